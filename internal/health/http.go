package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/patchpilot/patchpilot"
)

// maxProbeBody is how much of a probe's answer is read and quoted.
const maxProbeBody = 64 << 10

type probeEvidence struct {
	Name       string  `json:"name"`
	URL        string  `json:"url"`
	Outcome    string  `json:"outcome"`
	Status     int     `json:"status,omitempty"`
	Expect     string  `json:"expect"`
	LatencyMS  float64 `json:"latency_ms"`
	MaxLatency string  `json:"max_latency"`
	Error      string  `json:"error,omitempty"`
	Body       string  `json:"body,omitempty"`
}

// severity orders outcomes from best to worst, for combining probes.
func severity(o patchpilot.GateOutcome) int {
	switch o {
	case patchpilot.GatePass:
		return 0
	case patchpilot.GateInconclusive:
		return 1
	case patchpilot.GateBreach:
		return 2
	case patchpilot.GateError:
		return 3
	}
	return 4
}

// checkHTTP probes every configured endpoint. A refused or reset
// connection or a 5xx answer is critical (the service is down); a timeout
// or another transport failure cannot be evaluated (error); an unexpected
// status or a slow answer is a breach. The worst probe decides.
func (c *Checker) checkHTTP(ctx context.Context, t patchpilot.HealthTarget, _ patchpilot.Criterion, _ json.RawMessage) result {
	if len(c.cfg.HTTP) == 0 {
		return errorResult("no http probes configured for http_ok: add health.http to the plan")
	}
	data := TemplateData(t.Host)
	worst := result{outcome: patchpilot.GatePass}
	var evs []probeEvidence
	var maxLatency float64
	for _, p := range c.cfg.HTTP {
		p = p.WithDefaults()
		ev, outcome, reason := c.probe(ctx, p, data)
		evs = append(evs, ev)
		maxLatency = max(maxLatency, ev.LatencyMS/1000)
		if severity(outcome) > severity(worst.outcome) || worst.reason == "" {
			worst.outcome, worst.reason = outcome, reason
			worst.threshold = ptr(p.MaxLatency.Seconds())
		}
	}
	if worst.outcome == patchpilot.GatePass {
		worst.reason = fmt.Sprintf("%d probes answered as expected", len(evs))
		if len(evs) == 1 {
			worst.reason = "the probe answered as expected"
		}
	}
	worst.value = ptr(maxLatency)
	worst.evidence = map[string]any{"probes": evs}
	return worst
}

func (c *Checker) probe(ctx context.Context, p patchpilot.HTTPProbe, data patchpilot.HealthTemplateData) (probeEvidence, patchpilot.GateOutcome, string) {
	ev := probeEvidence{Name: p.Name, MaxLatency: p.MaxLatency.String(), Expect: "2xx"}
	if p.ExpectStatus != 0 {
		ev.Expect = fmt.Sprint(p.ExpectStatus)
	}
	u, err := RenderTemplate(p.Name, p.URL, data)
	if err != nil {
		ev.Error, ev.Outcome = err.Error(), string(patchpilot.GateError)
		return ev, patchpilot.GateError, "probe " + p.Name + ": " + err.Error()
	}
	ev.URL = u
	pctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, u, nil)
	if err != nil {
		ev.Error, ev.Outcome = err.Error(), string(patchpilot.GateError)
		return ev, patchpilot.GateError, "probe " + p.Name + ": " + err.Error()
	}
	start := c.now()
	resp, err := c.http.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
		resp.Body.Close()
	}
	latency := c.now().Sub(start)
	ev.LatencyMS = float64(latency.Microseconds()) / 1000
	outcome, reason := judgeProbe(p, resp, err, latency)
	if err != nil {
		ev.Error = err.Error()
	}
	if resp != nil {
		ev.Status = resp.StatusCode
		ev.Body = truncate(strings.TrimSpace(string(body)), 200)
	}
	ev.Outcome = string(outcome)
	return ev, outcome, "probe " + p.Name + " (" + u + "): " + reason
}

// judgeProbe decides one probe from its answer.
func judgeProbe(p patchpilot.HTTPProbe, resp *http.Response, err error, latency time.Duration) (patchpilot.GateOutcome, string) {
	switch {
	case err != nil && refused(err):
		return patchpilot.GateCritical, "connection refused: the service is down"
	case err != nil && timedOut(err):
		return patchpilot.GateError, fmt.Sprintf("no answer within %s", p.Timeout)
	case err != nil:
		return patchpilot.GateError, err.Error()
	case resp.StatusCode >= 500:
		return patchpilot.GateCritical, fmt.Sprintf("status %d", resp.StatusCode)
	case p.ExpectStatus != 0 && resp.StatusCode != p.ExpectStatus:
		return patchpilot.GateBreach, fmt.Sprintf("status %d, want %d", resp.StatusCode, p.ExpectStatus)
	case p.ExpectStatus == 0 && resp.StatusCode/100 != 2:
		return patchpilot.GateBreach, fmt.Sprintf("status %d, want 2xx", resp.StatusCode)
	case latency > p.MaxLatency:
		return patchpilot.GateBreach, fmt.Sprintf("answered in %s, slower than %s", latency.Round(time.Millisecond), p.MaxLatency)
	}
	return patchpilot.GatePass, fmt.Sprintf("status %d in %s", resp.StatusCode, latency.Round(time.Millisecond))
}

func refused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
