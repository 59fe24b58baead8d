package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// notifier wakes the event streams when this server's controllers write
// an event; events other processes write are found by polling.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func newNotifier() *notifier { return &notifier{ch: make(chan struct{})} }

// wait returns a channel closed at the next wake.
func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

func (n *notifier) wake() {
	n.mu.Lock()
	defer n.mu.Unlock()
	close(n.ch)
	n.ch = make(chan struct{})
}

// streamBatch bounds the events one read of the store returns.
const streamBatch = 500

// keepAlive is how often an idle stream sends a comment, so that proxies
// keep the connection open.
const keepAlive = 15 * time.Second

// streamRecheck is how often at most a stream asks the store again
// whether its caller's token is still valid; a dashboard session is
// looked up in memory before every batch and every idle wake.
const streamRecheck = 5 * time.Second

// streamEvents serves the event log to a bearer token.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request, _ *call) error {
	return s.stream(w, r, s.tokenStillValid(r))
}

// tokenStillValid re-authenticates a stream's bearer token, at most
// every s.recheck.
func (s *Server) tokenStillValid(r *http.Request) func(context.Context) bool {
	secret, err := bearer(r)
	last := time.Now()
	return func(ctx context.Context) bool {
		if err != nil {
			return false
		}
		if time.Since(last) < s.recheck {
			return true
		}
		last = time.Now()
		_, aerr := s.people.Authenticate(ctx, secret)
		return aerr == nil
	}
}

// sessionStillValid checks that a stream's dashboard session still
// exists and has not expired (in memory, each time), and, at most every
// s.recheck, that its token was not revoked (by another process too).
func (s *Server) sessionStillValid(sess *session) func(context.Context) bool {
	last := time.Now()
	return func(ctx context.Context) bool {
		if !s.sessions.live(sess.id, s.now()) {
			return false
		}
		if time.Since(last) < s.recheck {
			return true
		}
		last = time.Now()
		ts, err := s.people.Tokens(ctx)
		if err != nil {
			return false
		}
		for _, t := range ts {
			if t.Name == sess.principal.Token && t.RevokedAt == nil {
				return true
			}
		}
		s.sessions.endToken(sess.principal.Token)
		return false
	}
}

// stream serves the event log as server-sent events: each event's
// id is its id in the log, so a client that reconnects with Last-Event-ID
// gets every event after it from the store, then live ones, none twice.
// It reads the store after the last id it sent, whenever a controller of
// this server writes an event and at each poll; none is missed because
// the store hands ids out in commit order (SQLite has one writer at a
// time), so no event with a smaller id appears after a larger one was read.
//
// An SSE connection is one long request, so the caller is checked again
// (valid) before each batch and at each idle wake; when it no longer
// holds (token revoked, session ended or expired) the stream just ends,
// and the client's reconnect meets the usual 401 or login redirect.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, valid func(context.Context) bool) error {
	q, err := query(r, "rollout", "after")
	if err != nil {
		return err
	}
	var after int64
	last := r.Header.Get("Last-Event-ID")
	field := "Last-Event-ID"
	if last == "" {
		last, field = q.Get("after"), "after"
	}
	if last != "" {
		if after, err = strconv.ParseInt(strings.TrimSpace(last), 10, 64); err != nil || after < 0 {
			return badField(field, "%s %q: expected an event id (a number of at least 0)", field, last)
		}
	}
	rollout := q.Get("rollout")
	if rollout != "" {
		if _, err := s.app.Store.Rollout(r.Context(), rollout); err != nil {
			return err
		}
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return nil
	}
	idle := time.NewTimer(keepAlive)
	defer idle.Stop()
	for {
		wake := s.notify.wait()
		evs, err := s.app.Store.Events(r.Context(), patchpilot.EventFilter{Rollout: rollout, AfterID: after, Limit: streamBatch})
		if err != nil {
			if r.Context().Err() == nil {
				s.log.Warn("event stream: read events", "err", err)
			}
			return nil
		}
		if len(evs) > 0 && !valid(r.Context()) {
			return nil
		}
		for _, e := range evs {
			if err := writeEvent(w, e); err != nil {
				return nil
			}
			after = e.ID
		}
		if len(evs) > 0 {
			if err := rc.Flush(); err != nil {
				return nil
			}
			idle.Reset(keepAlive)
		}
		if len(evs) == streamBatch {
			continue
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-s.closing:
			return nil
		case <-wake:
		case <-time.After(min(s.poll, streamRecheck)):
		case <-idle.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
			if err := rc.Flush(); err != nil {
				return nil
			}
			idle.Reset(keepAlive)
		}
		if !valid(r.Context()) {
			return nil
		}
	}
}

// writeEvent writes one event as a server-sent event: its id, its kind
// as the event type, and the event as JSON with its payload in the
// current shape of its kind.
func writeEvent(w http.ResponseWriter, e patchpilot.Event) error {
	if v, err := app.EventData(e); err == nil && v != nil {
		if _, raw := v.(json.RawMessage); !raw {
			if data, err := json.Marshal(v); err == nil {
				e.Data = data
			}
		}
	}
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.ID, oneLine(e.Kind), data)
	return err
}
