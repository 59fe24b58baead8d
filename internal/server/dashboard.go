package server

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/patchpilot/patchpilot"
)

// The dashboard is served under /ui from the same use cases as the API.
// Its assets are embedded; it asks no other host for anything.
//
//go:embed web
var webFS embed.FS

// Dashboard cookies and limits.
const (
	sessionCookie = "pp_session"
	loginCookie   = "pp_login"
	// SessionTTL is how long a dashboard session lasts after login.
	SessionTTL = 8 * time.Hour
	// sessionIdle ends a session nobody used for this long.
	sessionIdle = time.Hour
	// maxFormBytes caps a dashboard form.
	maxFormBytes = 64 << 10
)

// contentSecurityPolicy is sent with every dashboard response.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// session is one logged-in browser. It holds the token's name and role,
// never its secret.
type session struct {
	id        string
	csrf      string
	principal patchpilot.Principal
	created   time.Time
	lastSeen  time.Time
}

// sessions keeps the dashboard's sessions in memory: a restart logs
// everyone out.
type sessions struct {
	mu sync.Mutex
	m  map[string]*session // by the SHA-256 of the cookie's value
}

func newSessions() *sessions { return &sessions{m: map[string]*session{}} }

func sessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return string(sum[:])
}

// randomToken returns 32 random bytes, base64url.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", patchpilot.Errorf(patchpilot.EINTERNAL, "read random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func (ss *sessions) create(p patchpilot.Principal, now time.Time) (*session, error) {
	id, err := randomToken()
	if err != nil {
		return nil, err
	}
	csrf, err := randomToken()
	if err != nil {
		return nil, err
	}
	s := &session{id: id, csrf: csrf, principal: p, created: now, lastSeen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, o := range ss.m {
		if o.expired(now) {
			delete(ss.m, k)
		}
	}
	ss.m[sessionKey(id)] = s
	return s, nil
}

func (s *session) expired(now time.Time) bool {
	return now.Sub(s.created) >= SessionTTL || now.Sub(s.lastSeen) >= sessionIdle
}

// get returns the live session of a cookie's value and marks it used.
func (ss *sessions) get(id string, now time.Time) (*session, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[sessionKey(id)]
	if !ok {
		return nil, false
	}
	if s.expired(now) {
		delete(ss.m, sessionKey(id))
		return nil, false
	}
	s.lastSeen = now
	return s, true
}

// live reports whether a cookie's value still has a live session,
// without marking it used: a stream open on a page is not the user's
// activity.
func (ss *sessions) live(id string, now time.Time) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[sessionKey(id)]
	return ok && !s.expired(now)
}

func (ss *sessions) end(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, sessionKey(id))
}

// endToken ends every session of a token (it was revoked).
func (ss *sessions) endToken(name string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, s := range ss.m {
		if s.principal.Token == name {
			delete(ss.m, k)
		}
	}
}

// securityHeaders sets the headers every dashboard response carries.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// setCookie sets a dashboard cookie: HttpOnly, SameSite=Strict, Path=/,
// Secure when the request came over TLS. A negative maxAge deletes it,
// with an expiry in the past as well for clients that ignore Max-Age=0.
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode}
	if maxAge < 0 {
		c.Expires = time.Unix(1, 0)
	}
	http.SetCookie(w, c)
}

// sameOrigin refuses a cross-site form post: the Origin header, when
// sent, must name this server's host (the scheme is not compared, so
// that a proxy terminating TLS in front of the server does not refuse
// every form), and Sec-Fetch-Site, when sent, must say same-origin (or
// none: typed by the user).
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

func tokensEqual(a, b string) bool {
	return a != "" && len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// uiRoute is one dashboard endpoint.
type uiRoute struct {
	method  string
	pattern string
	role    patchpilot.Role
	action  string // audit action of a POST that changes something
	handle  func(w http.ResponseWriter, r *http.Request, v *visit) error
}

// visit is one request of a logged-in browser.
type visit struct {
	call
	sess *session
	// shown is an error the handler showed on its page instead of
	// returning it: the audit log records it as the outcome.
	shown error
}

// dashboardRoutes is every page and form of the dashboard.
func (s *Server) dashboardRoutes() []uiRoute {
	const u = "/ui"
	viewer, operator, approver := patchpilot.RoleViewer, patchpilot.RoleOperator, patchpilot.RoleApprover
	return []uiRoute{
		{"GET", u + "/{$}", viewer, "", s.pageOverview},
		{"GET", u + "/hosts", viewer, "", s.pageHosts},
		{"GET", u + "/hosts/{name}", viewer, "", s.pageHost},
		{"GET", u + "/updates", viewer, "", s.pageUpdates},
		{"POST", u + "/plans", operator, "plan.create", s.formPlan},
		{"GET", u + "/plans/{id}", viewer, "", s.pagePlan},
		{"POST", u + "/plans/{id}/start", operator, "rollout.start", s.formStart},
		{"GET", u + "/rollouts", viewer, "", s.pageRollouts},
		{"GET", u + "/rollouts/{id}", viewer, "", s.pageRollout},
		{"GET", u + "/rollouts/{id}/live", viewer, "", s.fragmentRollout},
		{"POST", u + "/rollouts/{id}/approve", approver, "rollout.approve", s.formApprove},
		{"POST", u + "/rollouts/{id}/pause", operator, "rollout.pause", s.formPause},
		{"POST", u + "/rollouts/{id}/resume", operator, "rollout.resume", s.formResume},
		{"POST", u + "/rollouts/{id}/abort", operator, "rollout.abort", s.formAbort},
		{"POST", u + "/rollouts/{id}/rollback", operator, "rollout.rollback", s.formRollback},
		{"GET", u + "/history", viewer, "", s.pageHistory},
		{"GET", u + "/kpis", viewer, "", s.pageKPIs},
		{"GET", u + "/events", viewer, "", s.uiEvents},
	}
}

// registerDashboard adds the dashboard's routes to the mux.
func (s *Server) registerDashboard() {
	s.sessions = newSessions()
	s.templates = mustTemplates()
	for _, rt := range s.dashboardRoutes() {
		s.handleUI(route{method: rt.method, pattern: rt.pattern}, s.ui(rt))
	}
	s.handleUI(route{method: "GET", pattern: "/ui/login"}, http.HandlerFunc(s.loginPage))
	s.handleUI(route{method: "POST", pattern: "/ui/login"}, http.HandlerFunc(s.login))
	s.handleUI(route{method: "POST", pattern: "/ui/logout"}, http.HandlerFunc(s.logout))
	s.handleUI(route{method: "GET", pattern: "/ui/static/{file}"}, http.HandlerFunc(s.serveStatic))
	s.handleUI(route{method: "GET", pattern: "/{$}"}, http.RedirectHandler("/ui/", http.StatusSeeOther))
	s.handleUI(route{method: "GET", pattern: "/ui"}, http.RedirectHandler("/ui/", http.StatusSeeOther))
}

// handleUI registers a dashboard route on the mux, observed by the
// latency metric; the OpenAPI document describes the API only.
func (s *Server) handleUI(rt route, h http.Handler) {
	pattern := rt.method + " " + rt.pattern
	s.uiPatterns = append(s.uiPatterns, pattern)
	s.mux.Handle(pattern, s.instrument(rt, h))
}

// ui authenticates a dashboard request by its session, checks the role,
// and for a POST the CSRF token and the origin; it records the actions
// in the audit log as the API does.
func (s *Server) ui(rt uiRoute) http.Handler {
	audited := route{method: rt.method, pattern: rt.pattern, role: rt.role, action: rt.action}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		w.Header().Set("Cache-Control", "no-store")
		sess, ok := s.currentSession(r)
		if !ok && r.Method == http.MethodGet && r.Header.Get("Authorization") != "" {
			// A page read with a bearer token, as the API is (scripts,
			// benchmarks): no session, so its forms cannot be posted.
			sess, ok = s.bearerVisit(w, r)
			if !ok {
				return
			}
		}
		if !ok {
			if r.Method != http.MethodGet {
				s.uiError(w, r, nil, http.StatusForbidden, "your session has ended: log in again")
				return
			}
			http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		v := &visit{call: call{principal: sess.principal}, sess: sess}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				s.uiError(w, r, v, http.StatusBadRequest, "the form could not be read: "+err.Error())
				return
			}
			if !sameOrigin(r) || !tokensEqual(r.PostForm.Get("csrf"), sess.csrf) {
				s.log.Warn("dashboard: form refused without a valid CSRF token or from another origin", "path", r.URL.Path, "token", sess.principal.Token)
				s.uiError(w, r, v, http.StatusForbidden, "this form was refused: it did not come from this dashboard's page (missing or wrong CSRF token, or another origin). Reload the page and try again.")
				return
			}
		}
		if strings.HasPrefix(rt.pattern, "/ui/rollouts/{id}") {
			v.rollout = r.PathValue("id")
		}
		if !sess.principal.Role.Allows(rt.role) {
			err := patchpilot.Errorf(patchpilot.EFORBIDDEN, "token %s has the role %s; this needs %s", sess.principal.Token, sess.principal.Role, rt.role)
			s.audit(r, audited, &v.call, err)
			s.uiError(w, r, v, http.StatusForbidden, err.Error())
			return
		}
		if rt.action != "" && s.isStopping() {
			s.uiError(w, r, v, http.StatusServiceUnavailable, errStopping.Error())
			return
		}
		err := rt.handle(w, r, v)
		if err == nil && v.shown != nil {
			s.audit(r, audited, &v.call, v.shown)
		} else {
			s.audit(r, audited, &v.call, err)
		}
		if err != nil {
			s.uiFail(w, r, v, err)
		}
	})
}

// currentSession returns the request's session; a session whose token
// was revoked since the login is ended.
func (s *Server) currentSession(r *http.Request) (*session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, false
	}
	sess, ok := s.sessions.get(c.Value, s.now())
	if !ok {
		return nil, false
	}
	ts, err := s.people.Tokens(r.Context())
	if err != nil {
		s.log.Warn("dashboard: read tokens", "err", err)
		return nil, false
	}
	for _, t := range ts {
		if t.Name == sess.principal.Token && t.RevokedAt == nil {
			return sess, true
		}
	}
	s.sessions.endToken(sess.principal.Token)
	return nil, false
}

// bearerVisit authenticates a page read with a bearer token; a refused
// token is answered 401.
func (s *Server) bearerVisit(w http.ResponseWriter, r *http.Request) (*session, bool) {
	secret, err := bearer(r)
	if err == nil {
		var p patchpilot.Principal
		if p, err = s.people.Authenticate(r.Context(), secret); err == nil {
			return &session{principal: p}, true
		}
	}
	s.uiError(w, r, nil, http.StatusUnauthorized, "the token was refused: it is unknown, revoked or malformed")
	return nil, false
}

// loginPage shows the login form, with a fresh login CSRF token set as
// a cookie and in the form (double submit).
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	w.Header().Set("Cache-Control", "no-store")
	if _, ok := s.currentSession(r); ok {
		// Logged in already: no login cookie to leave behind.
		setCookie(w, r, loginCookie, "", -1)
		http.Redirect(w, r, cleanNext(r.FormValue("next")), http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, "")
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	tok, err := randomToken()
	if err != nil {
		s.uiError(w, r, nil, http.StatusInternalServerError, "internal error")
		return
	}
	setCookie(w, r, loginCookie, tok, 600)
	next := cleanNext(r.FormValue("next"))
	s.render(w, r, status, "login", &page{Title: "Log in", Data: map[string]string{"CSRF": tok, "Next": next, "Error": msg}})
}

// cleanNext is where to go after logging in: next when it is a path of
// this dashboard once cleaned ("/ui/../../etc" is "/etc": refused), with
// its query; "/ui/" otherwise.
func cleanNext(next string) string {
	if next == "" || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "/ui/"
	}
	p := path.Clean(u.Path)
	if strings.HasSuffix(u.Path, "/") && p != "/" {
		p += "/"
	}
	if p != "/ui" && !strings.HasPrefix(p, "/ui/") {
		return "/ui/"
	}
	out := url.URL{Path: p, RawQuery: u.RawQuery}
	return out.String()
}

// login checks the token typed in the form and opens a session.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.renderLogin(w, r, http.StatusBadRequest, "the form could not be read")
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameOrigin(r) || !tokensEqual(r.PostForm.Get("csrf"), c.Value) {
		s.renderLogin(w, r, http.StatusForbidden, "the login form expired or came from another site: try again")
		return
	}
	secret := strings.TrimSpace(r.PostForm.Get("token"))
	if secret == "" {
		s.renderLogin(w, r, http.StatusBadRequest, "paste your API token (pp_…) in the field token")
		return
	}
	p, err := s.people.Authenticate(r.Context(), secret)
	if err != nil {
		code := patchpilot.ErrorCode(err)
		if code == patchpilot.EINTERNAL {
			s.log.Error("dashboard login", "err", err)
		}
		s.log.Warn("dashboard login refused", "remote", r.RemoteAddr, "code", code)
		s.renderLogin(w, r, http.StatusUnauthorized, "the token was refused: it is unknown, revoked or mistyped")
		return
	}
	// A login ends the browser's previous session, if any.
	if old, err := r.Cookie(sessionCookie); err == nil && old.Value != "" {
		s.sessions.end(old.Value)
	}
	sess, err := s.sessions.create(p, s.now())
	if err != nil {
		s.renderLogin(w, r, http.StatusInternalServerError, "internal error")
		return
	}
	s.audit(r, route{action: "session.login"}, &call{principal: p, target: p.Token}, nil)
	setCookie(w, r, loginCookie, "", -1)
	setCookie(w, r, sessionCookie, sess.id, int(SessionTTL/time.Second))
	http.Redirect(w, r, cleanNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

// logout ends the session (a form with the session's CSRF token).
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	sess, ok := s.currentSession(r)
	if !ok {
		setCookie(w, r, sessionCookie, "", -1)
		http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil || !sameOrigin(r) || !tokensEqual(r.PostForm.Get("csrf"), sess.csrf) {
		s.uiError(w, r, &visit{call: call{principal: sess.principal}, sess: sess}, http.StatusForbidden,
			"this form was refused: missing or wrong CSRF token, or another origin")
		return
	}
	s.sessions.end(sess.id)
	s.audit(r, route{action: "session.logout"}, &call{principal: sess.principal, target: sess.principal.Token}, nil)
	setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// isUIPath reports whether a path is the dashboard's.
func isUIPath(path string) bool {
	return path == "/ui" || strings.HasPrefix(path, "/ui/")
}

// uiNotFound answers a dashboard path no route serves (404) or not with
// this method (405) with the dashboard's error page and headers.
func (s *Server) uiNotFound(w http.ResponseWriter, r *http.Request, status int) {
	securityHeaders(w)
	w.Header().Set("Cache-Control", "no-store")
	msg := "there is no dashboard page " + r.URL.Path
	if status == http.StatusMethodNotAllowed {
		msg = r.Method + " " + r.URL.Path + ": this page takes " + w.Header().Get("Allow")
	}
	s.uiError(w, r, nil, status, msg)
}

// serveStatic serves the embedded CSS and script.
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w)
	name := r.PathValue("file")
	data, err := fs.ReadFile(webFS, "web/static/"+name)
	if err != nil || strings.Contains(name, "/") {
		s.uiNotFound(w, r, http.StatusNotFound)
		return
	}
	switch {
	case strings.HasSuffix(name, ".css"):
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case strings.HasSuffix(name, ".js"):
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	default:
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(data)
}

// page is what every template gets.
type page struct {
	Title string
	Nav   string // the sidebar entry to highlight
	// Who is logged in, and the session's CSRF token for the forms.
	Principal patchpilot.Principal
	CSRF      string
	// Flash is a message shown at the top (an action's result).
	Flash string
	Error string
	Data  any
}

// Can reports whether the logged-in role may do what needs role.
func (p *page) Can(role string) bool { return p.Principal.Role.Allows(patchpilot.Role(role)) }

// render executes a page template into a buffer first, so that a
// template error becomes a clean 500.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	var buf bytes.Buffer
	if err := s.templates.ExecuteTemplate(&buf, name, p); err != nil {
		s.log.Error("dashboard: render", "template", name, "path", r.URL.Path, "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("internal error: see the server's log\n"))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// newPage starts a page for a visit.
func newPage(v *visit, title, nav string) *page {
	p := &page{Title: title, Nav: nav}
	if v != nil {
		p.Principal, p.CSRF = v.principal, v.sess.csrf
	}
	return p
}

// uiError shows an error page with status.
func (s *Server) uiError(w http.ResponseWriter, r *http.Request, v *visit, status int, msg string) {
	p := newPage(v, statusTitle(status), "")
	p.Error = msg
	p.Data = map[string]any{"Status": status, "Back": r.Referer()}
	s.render(w, r, status, "error", p)
}

// statusTitle names an HTTP status in sentence case: "Bad request".
func statusTitle(status int) string {
	t := http.StatusText(status)
	if t == "" {
		return "Error"
	}
	return t[:1] + strings.ToLower(t[1:])
}

// uiFail shows an app error on an error page: its message and hint, as
// the API would give them; internal errors are logged, not shown.
func (s *Server) uiFail(w http.ResponseWriter, r *http.Request, v *visit, err error) {
	status, body := errorResponse(err)
	if body.Error.Code == patchpilot.EINTERNAL {
		s.log.Error("dashboard request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	msg := string(body.Error.Code) + ": " + body.Error.Message
	if body.Error.Hint != "" {
		msg += " (" + body.Error.Hint + ")"
	}
	s.uiError(w, r, v, status, msg)
}

// mustTemplates parses the embedded templates; they are part of the
// binary, so a parse error is a build defect caught by every test.
func mustTemplates() *template.Template {
	t := template.New("").Funcs(templateFuncs)
	t = template.Must(t.ParseFS(webFS, "web/templates/*.html"))
	return t
}
