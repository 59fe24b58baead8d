package labtest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakePrometheus answers range queries with one series whose newest
// sample is lag older than the query's end; each query has one sample
// more than the one before, starting from the value of have.
type fakePrometheus struct {
	have    atomic.Int64
	lag     time.Duration
	queries atomic.Int64
}

func (f *fakePrometheus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.queries.Add(1)
	end, _ := strconv.ParseFloat(r.FormValue("end"), 64)
	step, _ := strconv.ParseFloat(r.FormValue("step"), 64)
	n := f.have.Add(1) - 1
	var vals []string
	for i := n - 1; i >= 0; i-- {
		ts := end - f.lag.Seconds() - float64(i)*step
		vals = append(vals, fmt.Sprintf(`[%.3f,"0.01"]`, ts))
	}
	if strings.Contains(r.FormValue("query"), "nan") {
		vals = append(vals, fmt.Sprintf(`[%.3f,"NaN"]`, end))
	}
	fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"host":"h"},"values":[%s]}]}}`,
		strings.Join(vals, ","))
}

func TestWaitForSamplesWaitsUntilTheWindowIsFull(t *testing.T) {
	f := &fakePrometheus{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	WaitForSamples(t, srv.URL, Samples{Name: "m", Query: `m{host="{{.Host}}"}`, Hosts: []string{"h"},
		Window: 500 * time.Millisecond, Step: 100 * time.Millisecond, Min: 5}, time.Minute)
	// Samples 0..4 were too few; the query that had 5 ended the wait.
	if got := f.queries.Load(); got != 6 {
		t.Errorf("%d queries, want 6 (until 5 samples were there)", got)
	}
}

func TestWaitForSamplesIgnoresNaNAndStaleSamples(t *testing.T) {
	for _, c := range []struct {
		name, query string
		lag         time.Duration
		want        string
	}{
		{"NaN", `nan{host="{{.Host}}"}`, 0, "host h: 0 samples in the last 3s, want 3"},
		{"stale", `m{host="{{.Host}}"}`, 10 * time.Second, "host h: newest sample is 10s old"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fakePrometheus{lag: c.lag}
			f.have.Store(-1000) // never enough non-NaN samples
			if c.lag > 0 {
				f.have.Store(100)
			}
			srv := httptest.NewServer(f)
			defer srv.Close()
			ft := &fatalRecorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				WaitForSamples(ft, srv.URL, Samples{Name: "m", Query: c.query, Hosts: []string{"h"},
					Window: 3 * time.Second, Step: 100 * time.Millisecond, Min: 3}, 500*time.Millisecond)
			}()
			<-done
			if !strings.Contains(ft.fatal, c.want) {
				t.Errorf("fatal %q, want it to contain %q", ft.fatal, c.want)
			}
		})
	}
}

// fatalRecorder records Fatalf instead of failing the test, and ends the
// goroutine as Fatalf would.
type fatalRecorder struct {
	testing.TB
	fatal string
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fatalRecorder) Logf(string, ...any) {}
func (f *fatalRecorder) Helper()             {}
