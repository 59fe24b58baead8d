package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// sseEvent is one server-sent event as read off the wire.
type sseEvent struct {
	id   int64
	kind string
	ev   patchpilot.Event
}

// stream opens the event stream and returns a function that reads the
// next event, and one that closes the stream.
func (f *fixture) stream(query, lastID string) (next func() sseEvent, closeFn func()) {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", f.ts.URL+"/api/v1/events"+query, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.tok[patchpilot.RoleViewer])
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := f.ts.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		f.t.Fatalf("events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	next = func() sseEvent {
		f.t.Helper()
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "" && e.id != 0:
				return e
			case strings.HasPrefix(line, "id: "):
				e.id, _ = strconv.ParseInt(strings.TrimPrefix(line, "id: "), 10, 64)
			case strings.HasPrefix(line, "event: "):
				e.kind = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &e.ev); err != nil {
					f.t.Fatalf("event data %q: %v", line, err)
				}
			}
		}
		f.t.Fatalf("the stream ended: %v", sc.Err())
		return e
	}
	return next, func() { cancel(); res.Body.Close() }
}

func (f *fixture) appendEvent(msg string) patchpilot.Event {
	f.t.Helper()
	e, err := f.app.Store.AppendEvent(f.ctx, patchpilot.Event{Actor: "test", Kind: patchpilot.EventFactsImported, Message: msg})
	if err != nil {
		f.t.Fatal(err)
	}
	return e
}

// The event stream replays the events after Last-Event-ID from the store,
// then follows with live ones; a client that reconnects with the id of
// the last event it got misses none and gets none twice.
func TestEventStreamResumesWithLastEventID(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	var stored []patchpilot.Event
	for i := range 5 {
		stored = append(stored, f.appendEvent(fmt.Sprintf("event %d", i)))
	}
	next, closeStream := f.stream("", strconv.FormatInt(stored[1].ID, 10))
	for _, want := range stored[2:] {
		got := next()
		if got.id != want.ID || got.ev.ID != want.ID || got.ev.Message != want.Message || got.kind != want.Kind {
			t.Fatalf("replayed %+v; want event %d %q", got, want.ID, want.Message)
		}
	}
	// Live events follow.
	live := f.appendEvent("live 1")
	if got := next(); got.id != live.ID || got.ev.Message != "live 1" {
		t.Fatalf("live event %+v; want %d", got, live.ID)
	}
	closeStream()

	// Events written while the client was away come on reconnection.
	away := []patchpilot.Event{f.appendEvent("away 1"), f.appendEvent("away 2")}
	next, closeStream = f.stream("", strconv.FormatInt(live.ID, 10))
	defer closeStream()
	for _, want := range away {
		if got := next(); got.id != want.ID {
			t.Fatalf("after reconnecting: event %d; want %d (%q)", got.id, want.ID, want.Message)
		}
	}
	after := f.appendEvent("after")
	if got := next(); got.id != after.ID {
		t.Fatalf("after reconnecting, live: event %d; want %d", got.id, after.ID)
	}

	if e := f.as(patchpilot.RoleViewer, "GET", "/api/v1/events?rollout=r-nope", "", http.StatusNotFound).apiError(t); e.Code != patchpilot.ENOTFOUND {
		t.Errorf("stream of an unknown rollout: %+v", e)
	}
	r := f.do("GET", "/api/v1/events", f.tok[patchpilot.RoleViewer], "", "Last-Event-ID", "yesterday")
	if r.status != http.StatusBadRequest || r.apiError(t).Field != "Last-Event-ID" {
		t.Errorf("Last-Event-ID yesterday: %s", r)
	}
}

// A stream of one rollout carries only its events, as the server drives it.
func TestEventStreamOfOneRollout(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.appendEvent("not the rollout's")
	id := decode[struct{ ID string }](t, f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts", `{"plan": `+jsonString(approvalPlan)+`}`, http.StatusCreated)).ID
	next, closeStream := f.stream("?rollout="+id, "")
	defer closeStream()
	var last int64
	for {
		e := next()
		if e.ev.Rollout != id || e.id <= last {
			t.Fatalf("event %+v: want rollout %s's events in order", e, id)
		}
		last = e.id
		if e.kind == patchpilot.EventRolloutState && strings.Contains(e.ev.Message, string(patchpilot.RolloutWaitingApproval)) {
			break
		}
	}
}
