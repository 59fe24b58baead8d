package health

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's starttime. It is 100
// on every Linux architecture patchpilot supports (getconf CLK_TCK).
const clockTicks = 100

type bootEvidence struct {
	BootID       string  `json:"boot_id,omitempty"`
	StartupTime  string  `json:"startup_time,omitempty"`
	Source       string  `json:"source"`
	Elapsed      float64 `json:"elapsed_seconds,omitempty"`
	Limit        string  `json:"limit"`
	AnalyzeError string  `json:"systemd_analyze,omitempty"`
}

// checkBootTime reads the time systemd took to start the host. When
// systemd-analyze has no answer because the boot has not finished, the
// elapsed time since PID 1 started (its start tick against /proc/uptime)
// bounds it from below: past the limit that is a breach, within it the
// gate is inconclusive (bake longer). Either way a slow boot is critical.
func (c *Checker) checkBootTime(ctx context.Context, t patchpilot.HealthTarget, cr patchpilot.Criterion, _ json.RawMessage) result {
	limit, ok := cr.Duration()
	if cr.Op == "" || !ok {
		limit = DefaultBootTime
	}
	ev := bootEvidence{Limit: limit.String()}
	if res, err := run(ctx, t.Runner, false, "cat", "/proc/sys/kernel/random/boot_id"); err == nil {
		ev.BootID = strings.TrimSpace(string(res.Stdout))
	}
	res, err := t.Runner.Run(ctx, patchpilot.Command{Args: []string{"systemd-analyze", "time"}, Timeout: commandTimeout})
	if err != nil {
		return errorResult("cannot run systemd-analyze: " + err.Error())
	}
	if res.ExitCode == 0 {
		d, err := parseStartupTime(res.Stdout)
		if err != nil {
			return errorResult(err.Error())
		}
		ev.Source, ev.StartupTime = "systemd-analyze time", d.String()
		return judgeBoot(d, limit, cr, ev, false)
	}
	ev.AnalyzeError = firstLine(string(res.Stderr) + string(res.Stdout))
	elapsed, err := pid1Age(ctx, t.Runner)
	if err != nil {
		return errorResult(fmt.Sprintf("systemd-analyze failed (%s) and the boot's age is unknown: %v", ev.AnalyzeError, err))
	}
	ev.Source, ev.Elapsed = "pid 1 age (boot not finished)", elapsed.Seconds()
	return judgeBoot(elapsed, limit, cr, ev, true)
}

func judgeBoot(d, limit time.Duration, cr patchpilot.Criterion, ev bootEvidence, unfinished bool) result {
	over := d > limit || (cr.Op != "<=" && d == limit)
	r := result{value: ptr(d.Seconds()), threshold: ptr(limit.Seconds()), evidence: ev}
	switch {
	case over && unfinished:
		r.outcome, r.reason = patchpilot.GateCritical, fmt.Sprintf("the boot has not finished after %s (limit %s)", d.Round(time.Second), limit)
	case over:
		r.outcome, r.reason = patchpilot.GateCritical, fmt.Sprintf("startup took %s (limit %s)", d, limit)
	case unfinished:
		r.outcome, r.reason = patchpilot.GateInconclusive, fmt.Sprintf("the boot is still running after %s (limit %s): %s", d.Round(time.Second), limit, ev.AnalyzeError)
	default:
		r.outcome, r.reason = patchpilot.GatePass, fmt.Sprintf("startup took %s (limit %s)", d, limit)
	}
	return r
}

// pid1Age is how long ago the host's PID 1 started: uptime minus PID 1's
// start tick. In a container both count from the machine's kernel boot, so
// the difference is still the container's age.
func pid1Age(ctx context.Context, r patchpilot.Runner) (time.Duration, error) {
	up, err := run(ctx, r, false, "cat", "/proc/uptime")
	if err != nil {
		return 0, err
	}
	st, err := run(ctx, r, false, "cat", "/proc/1/stat")
	if err != nil {
		return 0, err
	}
	return bootAge(up.Stdout, st.Stdout)
}

func bootAge(uptime, stat []byte) (time.Duration, error) {
	u, err := parseUptime(uptime)
	if err != nil {
		return 0, err
	}
	ticks, err := parseStartTicks(stat)
	if err != nil {
		return 0, err
	}
	age := u - float64(ticks)/clockTicks
	if age < 0 {
		return 0, fmt.Errorf("pid 1 started after the uptime: %s s uptime, tick %s", strconv.FormatFloat(u, 'f', 2, 64), strconv.FormatInt(ticks, 10))
	}
	return time.Duration(age * float64(time.Second)), nil
}
