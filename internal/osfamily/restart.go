package osfamily

import (
	"regexp"
	"slices"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// StepNeedsRestart names the step that lists services needing a restart.
const StepNeedsRestart = "needs_restart"

// needsRestartScript prints the systemd services that run code an update
// has replaced: processes mapping a library or program under /usr/lib,
// /lib or a libexec directory whose file was deleted (dpkg and rpm
// replace files by renaming over them), named by their cgroup's service.
// It reads every process's memory map, which only root may: as another
// user it fails rather than print a partial list. It is a constant,
// never built from input.
const needsRestartScript = `[ "$(id -u)" = 0 ] || { echo "listing services that need a restart needs root" >&2; exit 2; }
for d in /proc/[0-9]*; do
  grep -qE '/(usr/)?lib(exec)?/[^ ]+ \(deleted\)$' "$d/maps" 2>/dev/null || continue
  sed -n 's|^[0-9]*:[^:]*:.*/\([^/]*\.service\)$|\1|p' "$d/cgroup" 2>/dev/null | head -n 1
done | sort -u`

// NeedsRestartStep lists the services that still run replaced libraries
// or programs, as needrestart does, with nothing to install on the host.
func NeedsRestartStep() Step {
	return Step{Name: StepNeedsRestart, Cmd: patchpilot.Command{Args: []string{"sh", "-c", needsRestartScript}}}
}

var unitName = regexp.MustCompile(`^[A-Za-z0-9:_.\\@-]+\.service$`)

// ParseNeedsRestart returns the unit names the needs-restart step printed,
// sorted and without repeats; other lines are ignored.
func ParseNeedsRestart(out []byte) []string {
	var units []string
	for _, line := range strings.Split(string(out), "\n") {
		if line = strings.TrimSpace(line); unitName.MatchString(line) {
			units = append(units, line)
		}
	}
	slices.Sort(units)
	return slices.Compact(units)
}

// NeedsRestart reads the needs-restart step leniently: a host where it did
// not run, or could not read every process (not root), has no list, which
// is not a reason to fail the whole collection.
//
// A collection in depth has no needs-restart step: the depth step finds
// them.
func NeedsRestart(t Transcript) []string {
	if _, ok := t.Get(StepNeedsRestart); !ok {
		units, _ := DepthNeedsRestart(t)
		return units
	}
	res, ok := t.Get(StepNeedsRestart)
	if !ok || res.ExitCode != 0 {
		return nil
	}
	return ParseNeedsRestart(res.Stdout)
}
