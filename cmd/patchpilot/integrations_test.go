package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
	"github.com/patchpilot/patchpilot/internal/integrations/webhook"
	"github.com/patchpilot/patchpilot/internal/sqlite"
)

const hookSecret = "crash-test-secret"

// receiver is a webhook receiver on loopback: it verifies each request's
// signature, answers with the status set, and counts the deliveries it
// accepted by idempotency key.
type receiver struct {
	mu       sync.Mutex
	status   int
	accepted map[string]int
	refused  int
	bad      []string
	attempt  chan string // gets the key of each request (without blocking)
}

func newReceiver(t *testing.T) (*receiver, *httptest.Server) {
	r := &receiver{status: http.StatusServiceUnavailable, accepted: map[string]int{}, attempt: make(chan string, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		key := req.Header.Get("Idempotency-Key")
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := webhook.Verify([]byte(hookSecret), req.Header.Get("X-Patchpilot-Signature"), body, time.Now(), 0); err != nil {
			r.bad = append(r.bad, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var p webhook.Payload
		if err := json.Unmarshal(body, &p); err != nil || p.Version != 1 || p.ID != key {
			r.bad = append(r.bad, fmt.Sprintf("payload %s (%v) with key %q", body, err, key))
		}
		select {
		case r.attempt <- key:
		default:
		}
		if r.status/100 == 2 {
			r.accepted[key]++
		} else {
			r.refused++
		}
		w.WriteHeader(r.status)
	}))
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) set(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = status
}

type statusView struct {
	Name   string                     `json:"name"`
	Cursor *patchpilot.DeliveryCursor `json:"cursor"`
	Total  int                        `json:"given_up_total"`
}

// TestDeliveryCrash: a server is killed (SIGKILL) while it is retrying
// the delivery of an event the receiver answers 503 to; after a restart
// the receiver gets that event exactly once, by its idempotency key.
func TestDeliveryCrash(t *testing.T) {
	e := newEnv(t)
	rec, hook := newReceiver(t)
	db := filepath.Join(e.home, "pp.db")
	cfg := filepath.Join(e.home, "patchpilot.yaml")
	writeFile(t, cfg, fmt.Sprintf(`db: %s
known_hosts: %s
integrations:
  dashboard_url: https://pp.example.com
  services:
    - name: hook
      type: webhook
      url: %s/patchpilot
      secret: {env: HOOK_SECRET}
`, db, filepath.Join(e.home, "known_hosts"), hook.URL))
	writeFile(t, filepath.Join(e.home, "known_hosts"), "")
	e.vars = append(e.vars, "HOOK_SECRET="+hookSecret)
	status := func() statusView {
		t.Helper()
		views := decodeJSON[[]statusView](t, e.mustRun("--config", cfg, "integrations", "status", "--json"))
		if len(views) != 1 || views[0].Name != "hook" {
			t.Fatalf("integrations status: %+v", views)
		}
		return views[0]
	}
	serve := func() *background {
		srv := e.background("--config", cfg, "server", "--listen", "127.0.0.1:0")
		// Serving: the database is made and migrated, so that the
		// status below (which only reads) does not see it half made.
		serverURL(t, srv)
		return srv
	}
	waitStatus := func(srv *background, what string, cond func(statusView) bool) statusView {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			if s := status(); cond(s) {
				return s
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("integration status never showed %s; server:\n%s", what, srv.stderrText())
		return statusView{}
	}

	// The first server starts the integration's cursor at the end of the
	// (empty) log.
	srv := serve()
	waitStatus(srv, "a cursor", func(s statusView) bool { return s.Cursor != nil })

	// An event is written into the database (as a controller or the CLI
	// does); the server reads it and posts it; the receiver answers 503.
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(patchpilot.RolloutStateData{State: patchpilot.RolloutHalted, Previous: patchpilot.RolloutRunning, Reason: "stage canary failed"})
	ev, err := st.AppendEvent(context.Background(), patchpilot.Event{Kind: patchpilot.EventRolloutState, Actor: "controller",
		Rollout: "r-crash", Message: "rollout halted: stage canary failed", Data: data})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("patchpilot-event-%d", ev.ID)
	select {
	case got := <-rec.attempt:
		if got != key {
			t.Fatalf("receiver got %q, want %q", got, key)
		}
	case <-time.After(time.Minute):
		t.Fatalf("the server never posted the event; server:\n%s", srv.stderrText())
	}
	// Killed while backing off: the cursor has not moved.
	if err := srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-srv.done
	if s := status(); s.Cursor == nil || s.Cursor.EventID >= ev.ID || s.Cursor.Behind != 1 || s.Total != 0 {
		t.Fatalf("after the kill: %+v (cursor %+v); want the event still to deliver", s, s.Cursor)
	}

	// The receiver is well again; a new server delivers the event.
	rec.set(http.StatusNoContent)
	srv = serve()
	s := waitStatus(srv, "the event delivered", func(s statusView) bool { return s.Cursor != nil && s.Cursor.DeliveredEventID == ev.ID })
	if s.Cursor.EventID != ev.ID || s.Cursor.Behind != 0 || s.Total != 0 {
		t.Errorf("after the delivery: cursor %+v, %d given up", s.Cursor, s.Total)
	}
	srv.cmd.Process.Kill()
	<-srv.done

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.accepted[key] != 1 || len(rec.accepted) != 1 {
		t.Errorf("accepted deliveries %v, want %s exactly once", rec.accepted, key)
	}
	if rec.refused == 0 || len(rec.bad) > 0 {
		t.Errorf("refused %d (want at least 1), bad requests %v", rec.refused, rec.bad)
	}
}

// TestIntegrationsCommands: list, status and test with a webhook that
// accepts, one that refuses, and an unknown name.
func TestIntegrationsCommands(t *testing.T) {
	e := newEnv(t)
	rec, hook := newReceiver(t)
	rec.set(http.StatusOK)
	cfg := filepath.Join(e.home, "patchpilot.yaml")
	writeFile(t, cfg, fmt.Sprintf(`db: %s
integrations:
  services:
    - {name: good, type: webhook, url: %q, secret: {env: HOOK_SECRET}, topics: [halted, incident]}
    - {name: wrong-secret, type: webhook, url: %q, secret: {env: OTHER_SECRET}, min_level: critical}
`, filepath.Join(e.home, "pp.db"), hook.URL, hook.URL))
	e.vars = append(e.vars, "HOOK_SECRET="+hookSecret, "OTHER_SECRET=not-the-receivers")

	out := e.mustRun("--config", cfg, "integrations", "list")
	for _, want := range []string{"good", "webhook", "halted,incident", "wrong-secret", "critical"} {
		if !strings.Contains(out, want) {
			t.Errorf("integrations list does not show %q:\n%s", want, out)
		}
	}
	out = e.mustRun("--config", cfg, "integrations", "test", "good")
	if !strings.Contains(out, "good accepted the test notification") {
		t.Errorf("integrations test good: %s", out)
	}
	r := e.run("--config", cfg, "integrations", "test", "wrong-secret")
	if r.code == 0 || !strings.Contains(r.stderr, "answered 401") || !strings.Contains(r.stderr, "same secret") || strings.Contains(r.stderr, "not-the-receivers") {
		t.Errorf("integrations test wrong-secret: code %d\n%s", r.code, r.stderr)
	}
	r = e.run("--config", cfg, "integrations", "test", "nope")
	if r.code == 0 || !strings.Contains(r.stderr, "the configured integrations are good, wrong-secret") {
		t.Errorf("integrations test nope: code %d\n%s", r.code, r.stderr)
	}
	views := decodeJSON[[]app.IntegrationStatus](t, e.mustRun("--config", cfg, "integrations", "status", "--json"))
	if len(views) != 2 || views[0].Cursor != nil || !views[0].Notified {
		t.Errorf("integrations status before any server: %+v", views)
	}
	if out := e.mustRun("--config", cfg, "integrations", "status"); !strings.Contains(out, "none yet") {
		t.Errorf("integrations status:\n%s", out)
	}
	if out := e.mustRun("--config", cfg, "integrations", "retry", "good"); !strings.Contains(out, "good has no given-up delivery left to retry") {
		t.Errorf("integrations retry good: %s", out)
	}
	if r := e.run("--config", cfg, "integrations", "retry", "good", "--event", "99"); r.code == 0 || !strings.Contains(r.stderr, "no given-up delivery of event 99") {
		t.Errorf("integrations retry good --event 99: code %d\n%s", r.code, r.stderr)
	}
	if out := e.mustRun("--config", cfg, "integrations", "--help"); !strings.Contains(out, "status") || !strings.Contains(out, "test") || !strings.Contains(out, "retry") {
		t.Errorf("integrations --help:\n%s", out)
	}
}
