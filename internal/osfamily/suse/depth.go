package suse

import (
	"slices"
	"strconv"
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
	"github.com/patchpilot/patchpilot/internal/osfamily/redhat"
)

// StepDepthPackages names SUSE's package checks of a collection in depth.
const StepDepthPackages = "depth_packages"

// depthPackagesScript prints, in sections headed "== NAME", the files of
// installed packages that differ from what rpm recorded ("verify": rpm
// -Va without file digests, dependencies or verify scripts, as on the Red
// Hat family) and zypper's package locks ("locks"). It is a constant,
// never built from input.
const depthPackagesScript = `echo "== verify"
rpm -Va --nofiledigest --nodeps --noscripts
echo "== locks"
zypper --non-interactive --no-refresh locks 2>/dev/null
exit 0`

// fullVerifyScript is depthPackagesScript with file digests checked.
const fullVerifyScript = `echo "== verify"
rpm -Va --nodeps --noscripts
echo "== locks"
zypper --non-interactive --no-refresh locks 2>/dev/null
exit 0`

// DepthSteps returns SUSE's steps of a collection in depth besides
// osfamily's depth step.
func DepthSteps(full bool) []osfamily.Step {
	script := depthPackagesScript
	if full {
		script = fullVerifyScript
	}
	return []osfamily.Step{{Name: StepDepthPackages, Cmd: patchpilot.Command{Args: []string{"sh", "-c", script}, Privileged: true}}}
}

// ParseLocks returns the package names of "zypper locks", sorted. zypper
// prints a table, "# | Name | Type | Repository" (newer versions add
// columns), a separator line, then one row a lock ("1 | vim | package |
// (any)"); locks of other types (patterns, patches) are skipped, and a
// host without locks prints "There are no package locks defined."
func ParseLocks(lines []string) []string {
	var names []string
	for _, line := range lines {
		cells := strings.Split(line, "|")
		if len(cells) < 3 {
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if _, err := strconv.Atoi(cells[0]); err != nil {
			continue
		}
		name, kind := cells[1], cells[2]
		if kind != "" && kind != "package" {
			continue
		}
		if name != "" && !strings.ContainsAny(name, " \t") && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// depth adds SUSE's parts to the family-independent depth: modified files
// (rpm -Va) and locked packages. Foreign packages are not looked for;
// Missing says so.
func depth(d *patchpilot.HostDepth, t osfamily.Transcript) {
	res, ok := t.Get(StepDepthPackages)
	if !ok || res.ExitCode != 0 {
		d.Missing = append(d.Missing, "modified, held: the package checks did not run or failed")
		return
	}
	secs := osfamily.Sections(res.Stdout)
	if mods, err := redhat.ParseRPMVerify(secs["verify"]); err != nil {
		d.Missing = append(d.Missing, "modified: "+err.Error())
	} else {
		d.Modified = mods
	}
	d.Held = ParseLocks(secs["locks"])
	d.Missing = append(d.Missing, "foreign: not looked for on rpm hosts")
}
