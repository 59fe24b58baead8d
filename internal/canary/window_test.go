package canary_test

import (
	"testing"
	"time"

	"github.com/patchpilot/patchpilot/internal/canary"
)

func TestQueryWindow(t *testing.T) {
	for _, tt := range []struct {
		query string
		want  time.Duration
	}{
		{`sum(rate(x_sum{host="{{.Host}}"}[1m])) / sum(rate(x_count{host="{{.Host}}"}[1m]))`, time.Minute},
		{`histogram_quantile(0.99, sum by (le) (rate(x_bucket{host="{{.Host}}"}[30s])))`, 30 * time.Second},
		{`sum(increase(restarts_total[15s])) + avg_over_time(up[ 1m30s ])`, 90 * time.Second},
		{`max_over_time(rate(x[1m])[5m:30s])`, 5 * time.Minute},
		{`avg_over_time(x[500ms])`, 500 * time.Millisecond},
		{`avg_over_time(x[1d])`, 24 * time.Hour},
		{`node_load1{instance="{{.Instance}}"}`, 0},
		{`rate(x[$__rate_interval])`, 0},
		{`rate(x[1q])`, 0},
	} {
		if got := canary.QueryWindow(tt.query); got != tt.want {
			t.Errorf("QueryWindow(%q) = %s, want %s", tt.query, got, tt.want)
		}
	}
}
