package health

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/patchpilot/patchpilot"
)

// maxSamples is how many journal messages a gate result quotes.
const maxSamples = 5

// journalIgnored are the syslog identifiers whose errors no_new_errors does
// not count. patchpilot itself causes them: every SSH login of the
// controller logs pam_env and kex errors at priority err on stock Debian
// (see testdata/journalctl-err.json), and the package transaction's own
// complaints (dpkg, apt) are judged by the apply step, not by the bake.
// Errors of the services themselves, of systemd and of the kernel count.
var journalIgnored = map[string]bool{
	"sshd": true, "sudo": true, "dpkg": true, "apt": true, "apt-get": true,
	"apt-listchanges": true, "unattended-upgrade": true, "needrestart": true,
}

type journalEvidence struct {
	Since   time.Time      `json:"since"`
	Count   int            `json:"count"`
	Ignored int            `json:"ignored"`
	Samples []journalEntry `json:"samples,omitempty"`
}

// checkJournal breaches when the journal holds new messages at priority
// err or worse since the change was applied.
func (c *Checker) checkJournal(ctx context.Context, t patchpilot.HealthTarget, _ patchpilot.Criterion, _ json.RawMessage) result {
	if t.Since.IsZero() {
		return errorResult("the target names no apply time to count journal errors from")
	}
	res, err := run(ctx, t.Runner, true, "journalctl", "-p", "err", "--since", "@"+strconv.FormatInt(t.Since.Unix(), 10),
		"-o", "json", "--no-pager", "-q")
	if err != nil {
		return errorResult("cannot read the journal: " + err.Error())
	}
	entries, err := parseJournal(res.Stdout)
	if err != nil {
		return errorResult(err.Error())
	}
	return judgeJournal(entries, t.Since)
}

// judgeJournal counts the entries at or after since (journalctl's --since
// has whole seconds) that are not ignored.
func judgeJournal(entries []journalEntry, since time.Time) result {
	ev := journalEvidence{Since: since.UTC()}
	for _, e := range entries {
		if e.Time.Before(since) {
			continue
		}
		if journalIgnored[e.Identifier] {
			ev.Ignored++
			continue
		}
		ev.Count++
		if len(ev.Samples) < maxSamples {
			ev.Samples = append(ev.Samples, e)
		}
	}
	r := result{value: ptr(float64(ev.Count)), threshold: ptr(0), evidence: ev}
	if ev.Count == 0 {
		r.outcome, r.reason = patchpilot.GatePass, fmt.Sprintf("no new journal errors since %s (%d from patchpilot's own access ignored)", since.UTC().Format(time.RFC3339), ev.Ignored)
		return r
	}
	first := ev.Samples[0]
	who := first.Identifier
	if who == "" {
		who = first.Unit
	}
	r.outcome, r.reason = patchpilot.GateBreach, fmt.Sprintf("%d new journal errors since %s, first from %s: %q",
		ev.Count, since.UTC().Format(time.RFC3339), who, truncate(first.Message, 200))
	return r
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
