package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations/webhook"
)

// The server delivers the events of its database to a configured webhook
// while it runs, holding the delivery lease, and releases it at Shutdown.
func TestServerDeliversEvents(t *testing.T) {
	var mu sync.Mutex
	var got []webhook.Payload
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p webhook.Payload
		if err := webhook.Verify([]byte("hook-secret"), r.Header.Get(webhook.HeaderSignature), body, time.Now(), 0); err != nil || json.Unmarshal(body, &p) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
	}))
	defer hook.Close()
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("hook-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, fixtureOptions{config: fmt.Sprintf(`integrations:
  dashboard_url: https://pp.example.com
  services:
    - {name: hook, type: webhook, url: %q, secret: {file: %q}, topics: [halted]}
`, hook.URL, secret)})
	// Wait for the dispatcher's first pass: the cursor at the end of the log.
	for {
		cs, err := f.app.Store.DeliveryCursors(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) == 1 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	data, _ := json.Marshal(patchpilot.RolloutStateData{State: patchpilot.RolloutHalted, Previous: patchpilot.RolloutRunning, Reason: "stage canary failed"})
	e, err := f.app.Store.AppendEvent(f.ctx, patchpilot.Event{Kind: patchpilot.EventRolloutState, Rollout: "r-x", Message: "rollout halted", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	f.srv.wakeDeliveries()
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got[0].Event.ID != e.ID || got[0].Topic != patchpilot.TopicHalted || got[0].URL != "https://pp.example.com/ui/rollouts/r-x" {
		t.Errorf("delivered %+v", got[0])
	}
	if granted, holder, err := f.app.Store.AcquireDeliveryLease(f.ctx, "another-server", time.Minute); err != nil || granted {
		t.Errorf("delivery lease while the server runs: %v, %q, %v; want held by the server", granted, holder, err)
	}
	f.srv.Shutdown(context.Background())
	if granted, _, err := f.app.Store.AcquireDeliveryLease(f.ctx, "another-server", time.Minute); err != nil || !granted {
		t.Errorf("delivery lease after Shutdown: %v, %v; want released", granted, err)
	}
}
