package main

import (
	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// canaryLines returns one line per canary verdict of a gate-verdict
// event (its estimate, interval and margin), so that 'rollout events'
// shows why a canary stage was promoted or rolled back. Other events have
// none.
func canaryLines(e patchpilot.Event) []string {
	d, err := app.EventData(e)
	rep, ok := d.(*patchpilot.HealthReport)
	if err != nil || !ok {
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
