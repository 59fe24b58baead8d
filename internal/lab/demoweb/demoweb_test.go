package demoweb

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestModes(t *testing.T) {
	tests := []struct {
		mode        string
		after       time.Duration
		wantHealth  int
		wantErrors  bool
		minDuration time.Duration
	}{
		{ModeGood, time.Hour, 200, false, baseLatency / 2},
		{ModeErrors, 20 * time.Second, 200, false, baseLatency / 2}, // 200 requests take about 2 s
		{ModeErrors, 31 * time.Second, 500, true, baseLatency / 2},
		{ModeSlow, 0, 200, false, slowFactor * baseLatency / 2},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			c := &clock{t: time.Unix(1e9, 0)}
			s := NewServer(Config{Mode: tt.mode, Version: "1.2.3", ErrorsAfter: DefaultErrorsAfter}, c.now)
			var slept time.Duration
			s.sleep = func(d time.Duration) { slept += d; c.add(d) }
			c.add(tt.after)
			if code, _ := get(t, s, "/health"); code != tt.wantHealth {
				t.Errorf("/health: got %d, want %d", code, tt.wantHealth)
			}
			failed := 0
			const n = 200
			for range n {
				if code, _ := get(t, s, "/work"); code != 200 {
					failed++
				}
			}
			if got := failed > 0; got != tt.wantErrors {
				t.Errorf("errors: got %d of %d, want errors %v", failed, n, tt.wantErrors)
			}
			if avg := slept / n; avg < tt.minDuration {
				t.Errorf("average latency: got %s, want at least %s", avg, tt.minDuration)
			}
			_, body := get(t, s, "/metrics")
			for _, want := range []string{
				`pp_demo_build_info{version="1.2.3",mode="` + tt.mode + `"} 1`,
				"pp_demo_requests_total 200\n",
				"pp_demo_request_duration_seconds_count 200\n",
				`pp_demo_request_duration_seconds_bucket{le="+Inf"} 200`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("/metrics lacks %q:\n%s", want, body)
				}
			}
			if !strings.Contains(body, "pp_demo_errors_total "+strconv.Itoa(failed)+"\n") {
				t.Errorf("/metrics: errors counter is not %d:\n%s", failed, body)
			}
		})
	}
}

func TestCrashModeExits(t *testing.T) {
	if code := Main([]string{"--mode", ModeCrash, "--listen", "127.0.0.1:0"}, io.Discard); code != 1 {
		t.Errorf("crash mode: got exit %d, want 1", code)
	}
	if code := Main([]string{"--mode", "bogus"}, io.Discard); code != 1 {
		t.Errorf("unknown mode: got exit %d, want 1", code)
	}
}

func TestRunServesAndLoads(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := l.Addr().String()
	go func() { errc <- Serve(ctx, l, Config{Mode: ModeGood, Version: "1.0.0", Load: 50}, io.Discard) }()
	var body string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + ln + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if !strings.Contains(body, "pp_demo_requests_total 0\n") && strings.Contains(body, "pp_demo_requests_total") {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(body, "pp_demo_requests_total 0\n") || !strings.Contains(body, "pp_demo_requests_total") {
		t.Errorf("the synthetic load did not count requests:\n%s", body)
	}
}
