package main

import (
	"encoding/json"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// canaryLines returns one line per canary verdict of a gate-verdict
// event (its estimate, interval and margin), so that 'rollout events'
// shows why a canary stage was promoted or rolled back. Other events have
// none.
func canaryLines(e patchpilot.Event) []string {
	if len(e.Data) == 0 {
		return nil
	}
	var rep patchpilot.HealthReport
	if json.Unmarshal(e.Data, &rep) != nil {
		return nil
	}
	var lines []string
	for _, gr := range rep.Results {
		if line, ok := app.DescribeGateResult(gr); ok {
			lines = append(lines, line)
		}
	}
	return lines
}
