package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
)

// API tokens. A secret is TokenPrefix followed by the lower-case base32
// (no padding) of tokenBytes random bytes: 56 characters that a scanner
// of leaked secrets can recognise by their prefix. Only its SHA-256 is
// stored; the secret is shown once, when the token is created.
const (
	TokenPrefix = "ppt_"
	tokenBytes  = 32
	// tokenTouchEvery is how often a token's last use is written: at
	// most once a minute, so that a busy client does not turn every
	// request into a database write.
	tokenTouchEvery = time.Minute
)

// tokenEncoding is base32 in lower case without padding.
var tokenEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// tokenSecretLen is the length of a well-formed secret.
var tokenSecretLen = len(TokenPrefix) + tokenEncoding.EncodedLen(tokenBytes)

// tokenNamePattern is what a token's name may be: it shows in the audit
// log and in actors ("token:NAME"), so it is plain.
var tokenNamePattern = regexp.MustCompile(`^[a-z0-9._-]{1,64}$`)

// tokenSecretPattern finds what looks like a token's secret in text that
// is about to be stored or logged.
var tokenSecretPattern = regexp.MustCompile(regexp.QuoteMeta(TokenPrefix) + `[a-z2-7]{20,}`)

// CheckTokenName reports whether name may name a token.
func CheckTokenName(name string) error {
	if !tokenNamePattern.MatchString(name) {
		return patchpilot.Errorf(patchpilot.EINVALID, "token name %q: expected 1 to 64 characters of a-z, 0-9, '.', '_' and '-'",
			truncateForError(name))
	}
	return nil
}

// ParseRole reads a role's name.
func ParseRole(s string) (patchpilot.Role, error) {
	r := patchpilot.Role(strings.ToLower(strings.TrimSpace(s)))
	if !r.Valid() {
		return "", roleError(s)
	}
	return r, nil
}

// roleError reports a role that is not one of patchpilot.Roles.
func roleError(s string) error {
	names := make([]string, len(patchpilot.Roles))
	for i, x := range patchpilot.Roles {
		names[i] = string(x)
	}
	return patchpilot.Errorf(patchpilot.EINVALID, "role %q: expected one of %s", truncateForError(s), strings.Join(names, ", "))
}

// truncateForError keeps a bad value short in an error message.
func truncateForError(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// CreateToken creates an API token with the given name and role, on
// behalf of actor, and returns its secret, which is shown once: only its
// SHA-256 hash is stored. A name already taken (by a revoked token too) is
// ECONFLICT. The attempt is recorded in the audit log ("token.create").
func (a *App) CreateToken(ctx context.Context, name string, role patchpilot.Role, actor string) (string, patchpilot.Token, error) {
	tk := patchpilot.Token{Name: name, Role: role, CreatedBy: actor, CreatedAt: a.now()}
	secret, err := a.createToken(ctx, tk)
	detail, _ := json.Marshal(struct {
		Role patchpilot.Role `json:"role"`
	}{patchpilot.Role(truncateForError(string(role)))})
	if aerr := a.auditResult(ctx, actor, "token.create", name, detail, err); aerr != nil {
		if err == nil {
			return "", patchpilot.Token{}, auditFailed(aerr, "token "+name+" was created", "revoke it with 'patchpilot token revoke "+name+"' and create it again")
		}
		a.Options.Logger.Warn("audit log", "action", "token.create", "error", aerr)
	}
	if err != nil {
		return "", patchpilot.Token{}, err
	}
	return secret, tk, nil
}

func (a *App) createToken(ctx context.Context, tk patchpilot.Token) (string, error) {
	if err := checkActor(tk.CreatedBy); err != nil {
		return "", err
	}
	if err := CheckTokenName(tk.Name); err != nil {
		return "", err
	}
	if !tk.Role.Valid() {
		return "", roleError(string(tk.Role))
	}
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", patchpilot.Errorf(patchpilot.EINTERNAL, "create token %s: read random bytes: %w", tk.Name, err)
	}
	secret := TokenPrefix + tokenEncoding.EncodeToString(raw)
	if err := a.Store.CreateToken(ctx, tk, hashSecret(secret)); err != nil {
		return "", err
	}
	a.Options.Logger.Info("token created", "token", tk.Name, "role", tk.Role, "actor", tk.CreatedBy)
	return secret, nil
}

// hashSecret is what the store keeps of a secret.
func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// unauthenticated is the error of a secret that does not authenticate. It
// never quotes the secret.
func unauthenticated(why string) error {
	return patchpilot.Errorf(patchpilot.EUNAUTHENTICATED, "%s", why).
		WithHint("pass a token created with 'patchpilot token create NAME --role ROLE' that has not been revoked")
}

// Authenticate returns the principal whose token has this secret. A
// secret that is malformed, unknown, or whose token was revoked is
// EUNAUTHENTICATED; the error never contains the secret. The token's last
// use is recorded, at most once a minute.
func (a *App) Authenticate(ctx context.Context, secret string) (patchpilot.Principal, error) {
	if !wellFormedSecret(secret) {
		return patchpilot.Principal{}, unauthenticated("malformed token: expected " + TokenPrefix + " followed by 52 characters of a-z and 2-7")
	}
	tk, err := a.Store.TokenByHash(ctx, hashSecret(secret))
	if patchpilot.ErrorCode(err) == patchpilot.ENOTFOUND {
		return patchpilot.Principal{}, unauthenticated("unknown token")
	}
	if err != nil {
		return patchpilot.Principal{}, err
	}
	if tk.RevokedAt != nil {
		return patchpilot.Principal{}, unauthenticated(fmt.Sprintf("token %s was revoked at %s", tk.Name, tk.RevokedAt.Format(time.RFC3339)))
	}
	if !tk.Role.Valid() {
		return patchpilot.Principal{}, unauthenticated(fmt.Sprintf("token %s has an unknown role %q", tk.Name, tk.Role))
	}
	now := a.now()
	if tk.LastUsed == nil || now.Sub(*tk.LastUsed) >= tokenTouchEvery {
		// A last use that cannot be written does not refuse the caller:
		// it is bookkeeping, and the token is valid.
		if err := a.Store.TouchToken(ctx, tk.Name, now); err != nil {
			a.Options.Logger.Warn("record token use", "token", tk.Name, "error", err)
		}
	}
	a.Options.Logger.Debug("token authenticated", "token", tk.Name, "role", tk.Role)
	return patchpilot.Principal{Token: tk.Name, Role: tk.Role}, nil
}

// wellFormedSecret reports whether s has the shape of a secret.
func wellFormedSecret(s string) bool {
	if len(s) != tokenSecretLen || !strings.HasPrefix(s, TokenPrefix) {
		return false
	}
	_, err := tokenEncoding.DecodeString(s[len(TokenPrefix):])
	return err == nil
}

// Tokens lists every token, revoked ones too, ordered by name. No secret
// or hash is in them.
func (a *App) Tokens(ctx context.Context) ([]patchpilot.Token, error) {
	return a.Store.Tokens(ctx)
}

// RevokeToken revokes the named token on behalf of actor: it no longer
// authenticates. Revoking a revoked token changes nothing; an unknown name
// is ENOTFOUND. The attempt is recorded in the audit log ("token.revoke").
func (a *App) RevokeToken(ctx context.Context, name, actor string) error {
	err := checkActor(actor)
	if err == nil {
		err = CheckTokenName(name)
	}
	if err == nil {
		err = a.Store.RevokeToken(ctx, name, a.now())
	}
	if aerr := a.auditResult(ctx, actor, "token.revoke", name, nil, err); aerr != nil {
		if err == nil {
			return auditFailed(aerr, "token "+name+" was revoked", "")
		}
		a.Options.Logger.Warn("audit log", "action", "token.revoke", "error", aerr)
	}
	if err == nil {
		a.Options.Logger.Info("token revoked", "token", name, "actor", actor)
	}
	return err
}

// checkActor refuses an empty actor: every change has someone behind it.
func checkActor(actor string) error {
	if strings.TrimSpace(actor) == "" {
		return patchpilot.Errorf(patchpilot.EINVALID, "empty actor: every change records who made it")
	}
	return nil
}

// auditResult records a call's outcome in the audit log: "ok", or the
// code of the error it ended with. An actor of the form "token:NAME"
// fills in the token's name.
func (a *App) auditResult(ctx context.Context, actor, action, target string, detail json.RawMessage, err error) error {
	if strings.TrimSpace(actor) == "" {
		actor = "unknown"
	}
	outcome := "ok"
	if err != nil {
		outcome = string(patchpilot.ErrorCode(err))
	}
	e := patchpilot.AuditEntry{Actor: actor, Action: action, Target: truncateForError(target), Outcome: outcome, Detail: detail}
	if name, ok := strings.CutPrefix(actor, "token:"); ok {
		e.Token = name
	}
	return a.RecordAudit(ctx, e)
}

// auditFailed reports a change that was made but could not be recorded in
// the audit log.
func auditFailed(err error, done, hint string) error {
	e := patchpilot.Errorf(patchpilot.ErrorCode(err), "%s, but the audit log could not record it: %w", done, err)
	if hint != "" {
		return e.WithHint(hint)
	}
	return e
}

// RecordAudit appends an entry to the audit log. A zero time is now. Its
// actor, action and outcome are required and its detail, when present,
// must be a JSON object. Anything in it that looks like a token's secret
// is replaced by "ppt_[redacted]" before it is stored.
func (a *App) RecordAudit(ctx context.Context, e patchpilot.AuditEntry) error {
	switch {
	case strings.TrimSpace(e.Actor) == "":
		return patchpilot.Errorf(patchpilot.EINVALID, "audit entry: empty actor")
	case e.Action == "":
		return patchpilot.Errorf(patchpilot.EINVALID, "audit entry: empty action")
	case e.Outcome == "":
		return patchpilot.Errorf(patchpilot.EINVALID, "audit entry %s: empty outcome (\"ok\" or an error code)", e.Action)
	}
	if e.Time.IsZero() {
		e.Time = a.now()
	}
	for _, f := range []*string{&e.Actor, &e.Token, &e.Action, &e.Target, &e.Rollout, &e.Outcome} {
		*f = redactSecrets(*f)
	}
	if len(e.Detail) > 0 {
		e.Detail = json.RawMessage(redactSecrets(string(e.Detail)))
	}
	_, err := a.Store.AppendAudit(ctx, e)
	return err
}

// redactSecrets replaces what looks like a token's secret in s.
func redactSecrets(s string) string {
	return tokenSecretPattern.ReplaceAllString(s, TokenPrefix+"[redacted]")
}

// Audit lists the audit log's entries that match the filter, oldest
// first; with a limit, the newest Limit of them.
func (a *App) Audit(ctx context.Context, f patchpilot.AuditFilter) ([]patchpilot.AuditEntry, error) {
	if f.Limit < 0 {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "audit limit %d: expected 0 (all) or more", f.Limit)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "audit: until %s is before since %s",
			f.Until.Format(time.RFC3339), f.Since.Format(time.RFC3339))
	}
	return a.Store.Audit(ctx, f)
}

// SavePlan keeps a plan by a new id, with who created it, and returns the
// record. The plan is checked as the planner checks a plan file: source,
// when given, must parse (errors name its line and column) and say the
// same as p; without a source, the plan's YAML is written from p. A
// rollout started from the record names its id (StartOptions.PlanID), and
// four-eyes keeps its creator from approving that rollout.
func (a *App) SavePlan(ctx context.Context, p patchpilot.Plan, source []byte, actor string) (patchpilot.PlanRecord, error) {
	if err := checkActor(actor); err != nil {
		return patchpilot.PlanRecord{}, err
	}
	if len(source) > planner.MaxPlanBytes {
		return patchpilot.PlanRecord{}, patchpilot.Errorf(patchpilot.EINVALID, "plan of %d bytes: expected at most %d", len(source), planner.MaxPlanBytes)
	}
	want, err := planner.Marshal(p)
	if err != nil {
		return patchpilot.PlanRecord{}, err
	}
	if len(source) == 0 {
		source = want
	} else {
		parsed, err := planner.Parse(source, "plan")
		if err != nil {
			return patchpilot.PlanRecord{}, err
		}
		got, err := planner.Marshal(parsed)
		if err != nil {
			return patchpilot.PlanRecord{}, err
		}
		if string(got) != string(want) {
			return patchpilot.PlanRecord{}, patchpilot.Errorf(patchpilot.EINVALID, "the plan and its source differ").
				WithHint("save the plan as parsed from its source, or without a source")
		}
		p = parsed
	}
	if len(p.Stages) == 0 {
		return patchpilot.PlanRecord{}, patchpilot.Errorf(patchpilot.EINVALID, "plan: stages: expected at least one stage")
	}
	rec := patchpilot.PlanRecord{Name: p.Name, Source: string(source), CreatedBy: actor, CreatedAt: a.now()}
	// Ids are random within a second; a clash is retried with a new one.
	for attempt := 0; ; attempt++ {
		if rec.ID, err = newPlanID(rec.CreatedAt); err != nil {
			return patchpilot.PlanRecord{}, err
		}
		err = a.Store.SavePlan(ctx, rec)
		if patchpilot.ErrorCode(err) != patchpilot.ECONFLICT || attempt == 2 {
			break
		}
	}
	if err != nil {
		return patchpilot.PlanRecord{}, err
	}
	return rec, nil
}

// newPlanID is "p-" with the time and four random hex digits, as rollout
// ids are "r-" with the same.
func newPlanID(now time.Time) (string, error) {
	b := make([]byte, 2)
	if _, err := rand.Read(b); err != nil {
		return "", patchpilot.Errorf(patchpilot.EINTERNAL, "plan id: read random bytes: %w", err)
	}
	return "p-" + now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b), nil
}

// PlanRecord returns the saved plan with the given id; ENOTFOUND when
// there is none.
func (a *App) PlanRecord(ctx context.Context, id string) (patchpilot.PlanRecord, error) {
	return a.Store.PlanRecord(ctx, id)
}

// PlanRecords lists the saved plans, newest first.
func (a *App) PlanRecords(ctx context.Context) ([]patchpilot.PlanRecord, error) {
	return a.Store.PlanRecords(ctx)
}

// checkFourEyes refuses an approval by a token that started the rollout
// or created the saved plan it was started from. A local user ("user:")
// is not bound: whoever may write the database may do anything anyway.
func (a *App) checkFourEyes(ctx context.Context, id, actor string) error {
	if !strings.HasPrefix(actor, "token:") {
		return nil
	}
	r, err := a.Store.Rollout(ctx, id)
	if err != nil {
		return err
	}
	const who = "another token with the approver or admin role may approve it"
	if r.CreatedBy == actor {
		return patchpilot.Errorf(patchpilot.EFORBIDDEN, "four-eyes: %s started rollout %s and may not approve it", actor, id).
			WithHint(who)
	}
	if r.PlanID == "" {
		return nil
	}
	rec, err := a.Store.PlanRecord(ctx, r.PlanID)
	if err != nil {
		// Fail closed: without the plan's creator the rule cannot be
		// checked.
		return err
	}
	if rec.CreatedBy == actor {
		return patchpilot.Errorf(patchpilot.EFORBIDDEN, "four-eyes: %s created plan %s, which rollout %s was started from, and may not approve it",
			actor, rec.ID, id).WithHint(who)
	}
	return nil
}

// ParseSince reads the start of a time range as a front end takes it: a
// duration back from now ("24h", "90m", or days as "7d"), or an RFC 3339
// time. flag names the input in the error.
func ParseSince(flag, s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if days, ok := strings.CutSuffix(s, "d"); ok && err != nil {
		var n int
		if _, serr := fmt.Sscanf(days, "%d", &n); serr == nil && fmt.Sprint(n) == days && n >= 0 {
			d, err = time.Duration(n)*24*time.Hour, nil
		}
	}
	if err != nil || d < 0 {
		return time.Time{}, patchpilot.Errorf(patchpilot.EINVALID, "%s %q: expected a duration back from now such as 24h or 7d, or a time such as 2026-05-12T09:00:00Z",
			flag, truncateForError(s))
	}
	return now.Add(-d), nil
}
