package server

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// openLines opens a GET that streams and returns its lines on a channel
// closed when the stream ends.
func openLines(t *testing.T, c *http.Client, req *http.Request) <-chan string {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %v", res.StatusCode, res.Header)
	}
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}

// wantEnd waits for the stream to end and fails if it delivers msg
// first; the deadline only guards against a stream that never ends.
func wantEnd(t *testing.T, lines <-chan string, msg string) {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				return
			}
			if strings.HasPrefix(line, "data: ") && strings.Contains(line, msg) {
				t.Fatalf("the stream delivered %q after its caller lost access", msg)
			}
		case <-deadline.C:
			t.Fatal("the stream did not end")
		}
	}
}

// wantData waits for a data line holding msg.
func wantData(t *testing.T, lines <-chan string, msg string) {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("the stream ended before %q", msg)
			}
			if strings.HasPrefix(line, "data: ") && strings.Contains(line, msg) {
				return
			}
		case <-deadline.C:
			t.Fatalf("no event %q", msg)
		}
	}
}

// A bearer stream ends once its token is revoked, without sending the
// events written after.
func TestEventStreamEndsWhenTokenRevoked(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	f.srv.recheck = 0
	req, _ := http.NewRequestWithContext(context.Background(), "GET", f.ts.URL+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+f.tok[patchpilot.RoleViewer])
	lines := openLines(t, f.ts.Client(), req)
	f.appendEvent("before revoke")
	wantData(t, lines, "before revoke")
	if err := f.app.RevokeToken(f.ctx, string(patchpilot.RoleViewer), "user:test"); err != nil {
		t.Fatal(err)
	}
	f.appendEvent("after revoke")
	wantEnd(t, lines, "after revoke")
	// The reconnect is refused.
	if r := f.do("GET", "/api/v1/events", f.tok[patchpilot.RoleViewer], ""); r.status != http.StatusUnauthorized {
		t.Errorf("reconnect: %s", r)
	}
}

// A dashboard stream ends at logout, at the session's expiry, and when
// its token is revoked by another process (the store only).
func TestDashboardEventStreamEndsWithSession(t *testing.T) {
	var mu sync.Mutex
	now := time.Now().UTC()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f := newFixture(t, fixtureOptions{now: clock})
	f.srv.recheck = 0
	open := func(b *browser) <-chan string {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", f.ts.URL+"/ui/events", nil)
		return openLines(t, b.c, req)
	}

	t.Run("logout", func(t *testing.T) {
		b := f.loggedIn(patchpilot.RoleViewer)
		lines := open(b)
		f.appendEvent("before logout")
		wantData(t, lines, "before logout")
		page := b.page("/ui/")
		if r := b.post("/ui/logout", url.Values{"csrf": {csrf(t, page)}}); r.status != http.StatusSeeOther {
			t.Fatalf("logout: %s", r)
		}
		f.appendEvent("after logout")
		wantEnd(t, lines, "after logout")
	})

	t.Run("expiry", func(t *testing.T) {
		b := f.loggedIn(patchpilot.RoleViewer)
		lines := open(b)
		f.appendEvent("before expiry")
		wantData(t, lines, "before expiry")
		mu.Lock()
		now = now.Add(SessionTTL)
		mu.Unlock()
		f.appendEvent("after expiry")
		wantEnd(t, lines, "after expiry")
	})

	t.Run("revoked", func(t *testing.T) {
		b := f.loggedIn(patchpilot.RoleOperator)
		lines := open(b)
		f.appendEvent("before revoke")
		wantData(t, lines, "before revoke")
		if err := f.app.Store.RevokeToken(f.ctx, string(patchpilot.RoleOperator), clock()); err != nil {
			t.Fatal(err)
		}
		f.appendEvent("after revoke")
		wantEnd(t, lines, "after revoke")
	})
}
