// Package server is patchpilot's HTTP front end: a JSON API under
// /api/v1 over the same use cases as the CLI (internal/app), live events
// over server-sent events, Prometheus metrics, health probes and a web
// dashboard under /ui (docs/dashboard.md). Rollouts started through the
// API or the dashboard run inside the server, each claimed with the
// store's lease; docs/api.md describes the API.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// Body caps. A body over its cap is refused with 413.
const (
	// MaxBodyBytes caps every JSON body.
	MaxBodyBytes = 1 << 20
	// MaxPlanBodyBytes caps the bodies that carry a plan: the plan itself
	// is capped at app.MaxPlanBytes, and a JSON string may escape it.
	MaxPlanBodyBytes = 4 << 20
)

// DefaultPollInterval is how often a server-sent events stream looks in
// the store for events written by other processes.
const DefaultPollInterval = time.Second

// Options configure a Server.
type Options struct {
	// App is the application; its store serves the reads.
	App *app.App
	// People authenticates tokens, manages them and keeps the audit log.
	People People
	// Plans keeps proposed plans.
	Plans Plans
	// Controller drives the rollouts started or steered through the API.
	// Tests may set it; otherwise NewController builds it.
	Controller Controller
	// NewController builds the controller from engine options in which
	// the server sets Drain (closed at shutdown) and OnEvent (which wakes
	// the event streams); it adds the dialer and its tunables.
	NewController func(o app.EngineOptions) Controller
	// Logger receives the server's logs. Default: App's logger.
	Logger *slog.Logger
	// PollInterval: see DefaultPollInterval.
	PollInterval time.Duration
	// Now is the clock. Default: App's.
	Now func() time.Time
	// Schedules, when set, makes the server run the app's schedules
	// (app.Options.Schedules) with these options from Start until
	// Shutdown; the server sets Launch. Servers on one database run them
	// one at a time, holding the store's scheduler lease.
	Schedules *app.SchedulerOptions
	// AutoApprovalInterval: see DefaultAutoApprovalInterval.
	AutoApprovalInterval time.Duration
	// Deliveries are the options of the dispatcher that tells the app's
	// integrations (app.Options.Integrations) of events, from Start until
	// Shutdown, when any is configured; nil means the defaults. Servers
	// on one database deliver one at a time, holding the store's
	// delivery lease.
	Deliveries *app.DispatcherOptions
}

// Server serves the API. Build it with New, serve it with Serve (or use
// Handler in tests), and stop it with Shutdown.
type Server struct {
	app    *app.App
	people People
	plans  Plans
	ctrl   Controller
	log    *slog.Logger
	poll   time.Duration
	now    func() time.Time
	mux    *http.ServeMux
	routes []route
	// patterns are the API's patterns on the mux, "METHOD /path", as
	// registered; uiPatterns the dashboard's.
	patterns   []string
	uiPatterns []string
	metrics    *metrics
	notify     *notifier
	runs       *runner
	// The dashboard's sessions and templates.
	sessions  *sessions
	templates *template.Template

	// sched runs the schedules; nil when the server runs none.
	sched *app.Scheduler
	// deliver tells the integrations of events; nil when none is
	// configured.
	deliver *app.Dispatcher
	// The background work (schedules, auto-approvals) runs under bgCtx
	// from Start until shutdown.
	bgCtx        context.Context
	bgCancel     context.CancelFunc
	bg           sync.WaitGroup
	autoInterval time.Duration
	autoWake     chan struct{}
	autoKicked   map[string]time.Time // rollout → when the watch last drove it

	mu        sync.Mutex
	stopping  bool
	bgStarted bool
	closing   chan struct{} // closed when shutdown begins: streams end

	// recheck is how often at most an event stream re-checks its
	// caller's token in the store (streamRecheck; tests lower it).
	recheck time.Duration
}

// New builds a server.
func New(o Options) (*Server, error) {
	if o.App == nil || o.People == nil || o.Plans == nil {
		return nil, patchpilot.Errorf(patchpilot.EINTERNAL, "server: App, People and Plans are required")
	}
	s := &Server{app: o.App, people: o.People, plans: o.Plans, log: o.Logger, poll: o.PollInterval, now: o.Now,
		notify: newNotifier(), closing: make(chan struct{}), recheck: streamRecheck}
	if s.log == nil {
		s.log = o.App.Options.Logger
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.poll <= 0 {
		s.poll = DefaultPollInterval
	}
	if s.now == nil {
		s.now = o.App.Options.Now
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.runs = newRunner(s)
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	s.autoInterval, s.autoWake, s.autoKicked = o.AutoApprovalInterval, make(chan struct{}, 1), map[string]time.Time{}
	if s.autoInterval <= 0 {
		s.autoInterval = DefaultAutoApprovalInterval
	}
	if o.Schedules != nil {
		so := *o.Schedules
		so.Launch = s.launch
		sched, err := o.App.NewScheduler(so)
		if err != nil {
			return nil, err
		}
		s.sched = sched
	}
	if len(o.App.Options.Integrations.Items) > 0 {
		var do app.DispatcherOptions
		if o.Deliveries != nil {
			do = *o.Deliveries
		}
		d, err := o.App.NewDispatcher(do)
		if err != nil {
			return nil, err
		}
		if !d.Empty() {
			s.deliver = d
		}
	}
	s.ctrl = o.Controller
	if s.ctrl == nil {
		if o.NewController == nil {
			return nil, patchpilot.Errorf(patchpilot.EINTERNAL, "server: Controller or NewController is required")
		}
		s.ctrl = o.NewController(app.EngineOptions{Actor: "controller", Drain: s.runs.drain,
			OnEvent: func(patchpilot.Event) { s.notify.wake(); s.wakeDeliveries() }})
	}
	reg := prometheus.NewRegistry()
	s.metrics = newMetrics(reg, s)
	s.mux = http.NewServeMux()
	s.routes = s.apiRoutes()
	for _, rt := range s.routes {
		s.handle(rt, s.api(rt))
	}
	s.handle(route{method: "GET", pattern: "/api/v1/openapi.json"}, http.HandlerFunc(serveOpenAPI))
	s.handle(route{method: "GET", pattern: "/metrics"}, s.metrics.handler(reg))
	s.handle(route{method: "GET", pattern: "/healthz"}, http.HandlerFunc(s.healthz))
	s.handle(route{method: "GET", pattern: "/readyz"}, http.HandlerFunc(s.readyz))
	s.registerDashboard()
	// paths answers which methods a path is served with, for 405s.
	paths := http.NewServeMux()
	methods := map[string][]string{}
	for _, p := range append(slices.Clone(s.patterns), s.uiPatterns...) {
		method, path, _ := strings.Cut(p, " ")
		if methods[path] == nil {
			paths.Handle(path, http.NotFoundHandler())
		}
		methods[path] = append(methods[path], method)
	}
	s.mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, path := paths.Handler(r)
		if isUIPath(r.URL.Path) {
			// The dashboard's paths answer with its pages and headers.
			if path != "" {
				w.Header().Set("Allow", strings.Join(methods[path], ", "))
				s.uiNotFound(w, r, http.StatusMethodNotAllowed)
				return
			}
			s.uiNotFound(w, r, http.StatusNotFound)
			return
		}
		if path != "" {
			allow := strings.Join(methods[path], ", ")
			w.Header().Set("Allow", allow)
			writeJSON(w, http.StatusMethodNotAllowed, apiError{Error: errorBody{Code: patchpilot.EINVALID,
				Message: fmt.Sprintf("%s %s: this endpoint takes %s", r.Method, r.URL.Path, allow)}})
			return
		}
		s.writeError(w, r, patchpilot.Errorf(patchpilot.ENOTFOUND, "no endpoint %s %s", r.Method, r.URL.Path).
			WithHint("see /api/v1/openapi.json for the endpoints"))
	}))
	return s, nil
}

// handle registers a route on the mux, observed by the latency metric.
func (s *Server) handle(rt route, h http.Handler) {
	pattern := rt.method + " " + rt.pattern
	s.patterns = append(s.patterns, pattern)
	s.mux.Handle(pattern, s.instrument(rt, h))
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Start resumes every rollout left running, pending or rolling back by a
// controller that is no longer alive, as 'rollout resume' does; a rollout
// another live controller holds is skipped (logged). Then it starts the
// server's own work until Shutdown: the schedules (Options.Schedules),
// and driving each rollout waiting for an approval when the policy's
// auto-approval time for it comes, including those whose time came while
// no server ran.
func (s *Server) Start(ctx context.Context) error {
	rs, err := s.app.Store.Rollouts(ctx, patchpilot.RolloutFilter{})
	if err != nil {
		return err
	}
	for _, r := range rs {
		switch r.State {
		case patchpilot.RolloutRunning, patchpilot.RolloutPending, patchpilot.RolloutRollingBack:
			s.runs.kick(r.ID)
		}
	}
	s.background()
	return nil
}

// ServeOptions say where and how to listen.
type ServeOptions struct {
	Listen  string // host:port
	TLSCert string // both or neither
	TLSKey  string
	// Ready, when set, is called with the listener's address once it
	// accepts connections.
	Ready func(addr string)
	// DrainTimeout bounds how long shutdown waits for the host steps in
	// flight to finish before it cuts them off. Default DefaultDrainTimeout.
	DrainTimeout time.Duration
}

// DefaultDrainTimeout is how long shutdown waits for host steps in flight.
const DefaultDrainTimeout = 5 * time.Minute

// Serve listens and serves until ctx ends, then shuts down gracefully:
// no new requests or rollouts are taken, rollouts driven here stop at a
// stored state and release their leases. It returns nil after a clean
// shutdown.
func (s *Server) Serve(ctx context.Context, o ServeOptions) error {
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return patchpilot.Errorf(patchpilot.EINVALID, "--tls-cert and --tls-key go together: give both or neither")
	}
	hs := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	if o.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return patchpilot.Errorf(patchpilot.EINVALID, "--tls-cert %s / --tls-key %s: %w", o.TLSCert, o.TLSKey, err).
				WithHint("give a PEM certificate (chain) and its PEM private key")
		}
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "listen on %s: %w", o.Listen, err).
			WithHint("choose another --listen address, or stop what listens there")
	}
	if hs.TLSConfig != nil {
		ln = tls.NewListener(ln, hs.TLSConfig)
	}
	if err := s.Start(ctx); err != nil {
		ln.Close()
		return err
	}
	s.log.Info("serving", "addr", ln.Addr().String(), "tls", hs.TLSConfig != nil)
	if o.Ready != nil {
		o.Ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		s.Shutdown(context.WithoutCancel(ctx))
		return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: no new requests or work; hosts in flight finish their step")
	drain := o.DrainTimeout
	if drain <= 0 {
		drain = DefaultDrainTimeout
	}
	shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
	defer cancel()
	// The listener stays open while the rollouts stop, so that /readyz
	// answers 503 (and a load balancer takes this server out) rather than
	// refusing connections; new work is refused meanwhile. Then it closes.
	s.beginShutdown()
	s.stopBackground()
	s.runs.stopAll(shut)
	if err := hs.Shutdown(shut); err != nil {
		s.log.Warn("http shutdown", "err", err)
	}
	s.log.Info("stopped")
	return nil
}

// beginShutdown refuses new work and ends the event streams.
func (s *Server) beginShutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopping {
		s.stopping = true
		close(s.closing)
	}
}

// Shutdown stops taking work and stops the rollouts driven here: hosts
// in flight finish the step they are in, which is stored, and each lease
// is released. When ctx ends first, the steps still running are cut off.
// It returns when every rollout has stopped.
func (s *Server) Shutdown(ctx context.Context) {
	s.beginShutdown()
	s.stopBackground()
	s.runs.stopAll(ctx)
}

func (s *Server) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.isStopping() {
		s.writeError(w, r, patchpilot.Errorf(patchpilot.EUNAVAILABLE, "the server is shutting down"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if _, err := s.app.Store.Rollouts(ctx, patchpilot.RolloutFilter{Limit: 1}); err != nil {
		s.writeError(w, r, patchpilot.Errorf(patchpilot.EUNAVAILABLE, "the database does not answer: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// writeJSON writes v as the JSON body with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeError writes err as an error body; internal errors are logged.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := errorResponse(err)
	if body.Error.Code == patchpilot.EINTERNAL {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="patchpilot"`)
	}
	writeJSON(w, status, body)
}

// bearer reads the token from the Authorization header.
func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", patchpilot.Errorf(patchpilot.EUNAUTHENTICATED, "no token: send 'Authorization: Bearer TOKEN'").
			WithHint("ask an admin for an API token (docs/api.md, Authentication)")
	}
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return "", patchpilot.Errorf(patchpilot.EUNAUTHENTICATED, "the Authorization header is not 'Bearer TOKEN'")
	}
	return strings.TrimSpace(secret), nil
}

var errStopping = errors.New("the server is shutting down")
