package demoweb

import (
	"fmt"
	"io"
	"math"
	"sync"
	"time"
)

// durationBuckets are the histogram's upper bounds in seconds.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// metrics holds the counters and the latency histogram.
type metrics struct {
	mu       sync.Mutex
	requests uint64
	errors   uint64
	buckets  []uint64 // cumulative counts are computed when written
	sum      float64
}

func newMetrics() *metrics { return &metrics{buckets: make([]uint64, len(durationBuckets))} }

func (m *metrics) observe(d time.Duration, failed bool) {
	sec := d.Seconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests++
	if failed {
		m.errors++
	}
	m.sum += sec
	for i, le := range durationBuckets {
		if sec <= le {
			m.buckets[i]++
			break
		}
	}
}

// write renders the metrics in the Prometheus text exposition format.
func (m *metrics) write(w io.Writer, c Config) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintf(w, "# HELP pp_demo_build_info Version and mode of the running build.\n# TYPE pp_demo_build_info gauge\n")
	fmt.Fprintf(w, "pp_demo_build_info{version=%q,mode=%q} 1\n", c.Version, c.Mode)
	fmt.Fprintf(w, "# HELP pp_demo_requests_total Requests served.\n# TYPE pp_demo_requests_total counter\n")
	fmt.Fprintf(w, "pp_demo_requests_total %d\n", m.requests)
	fmt.Fprintf(w, "# HELP pp_demo_errors_total Requests that failed.\n# TYPE pp_demo_errors_total counter\n")
	fmt.Fprintf(w, "pp_demo_errors_total %d\n", m.errors)
	fmt.Fprintf(w, "# HELP pp_demo_request_duration_seconds Time taken to serve a request.\n# TYPE pp_demo_request_duration_seconds histogram\n")
	var cum uint64
	for i, le := range durationBuckets {
		cum += m.buckets[i]
		fmt.Fprintf(w, "pp_demo_request_duration_seconds_bucket{le=\"%s\"} %d\n", formatFloat(le), cum)
	}
	fmt.Fprintf(w, "pp_demo_request_duration_seconds_bucket{le=\"+Inf\"} %d\n", m.requests)
	fmt.Fprintf(w, "pp_demo_request_duration_seconds_sum %s\n", formatFloat(m.sum))
	fmt.Fprintf(w, "pp_demo_request_duration_seconds_count %d\n", m.requests)
}

func formatFloat(f float64) string {
	if math.IsInf(f, 1) {
		return "+Inf"
	}
	return fmt.Sprintf("%g", f)
}
