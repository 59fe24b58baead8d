package health

import (
	"context"
	"time"

	"github.com/patchpilot/patchpilot/internal/integrations/datadog"
	"github.com/patchpilot/patchpilot/internal/prometheus"
)

// MetricsSource answers the metric gates' and the canary judge's range
// queries: a query over [start, end] at a step, as series of points.
// *prometheus.Client is one; Datadog, through DatadogSource, is another.
type MetricsSource interface {
	QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) (prometheus.Matrix, error)
	// URL names where the metrics come from, for evidence and errors.
	URL() string
}

var _ MetricsSource = (*prometheus.Client)(nil)

// DatadogIngestDelay is how much later than Prometheus a Datadog point
// may arrive: the agent flushes every 15 s and intake takes its time, so
// the newest point of a query is up to about a minute old. The metric
// gates allow it on top of their two steps before calling data stale.
const DatadogIngestDelay = 90 * time.Second

// DatadogSource reads metrics from Datadog's metrics query API. Datadog
// chooses the points' interval from the span (a query may fix it with
// .rollup(avg, 15)); step is not sent. A series' scope tags are its
// labels.
func DatadogSource(c *datadog.Client) MetricsSource { return datadogSource{c} }

type datadogSource struct{ c *datadog.Client }

func (d datadogSource) URL() string { return d.c.URL() }

func (d datadogSource) QueryRange(ctx context.Context, query string, start, end time.Time, _ time.Duration) (prometheus.Matrix, error) {
	ss, err := d.c.Query(ctx, query, start, end)
	if err != nil {
		return nil, err
	}
	out := make(prometheus.Matrix, 0, len(ss))
	for _, s := range ss {
		labels := map[string]string{"__name__": s.Metric}
		for k, v := range s.Tags {
			labels[k] = v
		}
		ser := prometheus.Series{Metric: labels}
		for _, p := range s.Points {
			// The query covers whole seconds around [start, end]: points
			// outside the window are not the window's.
			if p.Time.Before(start) || p.Time.After(end) {
				continue
			}
			ser.Points = append(ser.Points, prometheus.Point{Time: p.Time, Value: p.Value})
		}
		out = append(out, ser)
	}
	return out, nil
}
