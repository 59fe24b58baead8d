package redhat

import (
	"slices"
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
)

// depthPackagesScript is this family's part of the depth step (see
// osfamily.DepthStep). It prints, in sections headed "== NAME", the files of
// installed packages that differ from what rpm recorded ("verify": rpm
// -Va comparing sizes, modes, owners, link targets and times but not file
// digests, which would read every file of every package; dependencies and
// verify scripts are not run either) and, where dnf's versionlock plugin
// keeps its list, the locked packages ("versionlock": the plugin's
// /etc/dnf/plugins/versionlock.list, in the format "dnf versionlock
// list" prints, read directly: starting dnf would cost more than all the
// rest). It is a constant, never built from input.
const depthPackagesScript = `
echo "== verify"
rpm -Va --nofiledigest --nodeps --noscripts
if [ -r /etc/dnf/plugins/versionlock.list ]; then
  echo "== versionlock"
  cat /etc/dnf/plugins/versionlock.list
fi`

// fullVerifyScript is depthPackagesScript with file digests checked.
const fullVerifyScript = `
echo "== verify"
rpm -Va --nodeps --noscripts
if [ -r /etc/dnf/plugins/versionlock.list ]; then
  echo "== versionlock"
  cat /etc/dnf/plugins/versionlock.list
fi`

// serviceSteps returns the steps listing services: in a collection in
// depth, the depth step with this family's checks (rpm -Va, without file
// digests unless FullVerify, and the package locks).
func serviceSteps(opts osfamily.Options) []osfamily.Step {
	script := depthPackagesScript
	if opts.FullVerify {
		script = fullVerifyScript
	}
	return osfamily.ServiceSteps(opts, script)
}

// ParseRPMVerify parses rpm -V output as rpm(8) documents it: a line per
// file that differs, "SM5DLUGTP" checks with '.' for a test passed and
// '?' for one that could not be done, then an attribute marker ('c'
// config, 'd' documentation, 'g' ghost, 'l' license, 'r' readme, or a
// space) and the path, as in "S.5....T.  c /etc/ssh/sshd_config";
// "missing   c /etc/foo" for a removed file. Lines rpm prints for a
// package as a whole ("Unsatisfied dependencies for ...") are skipped;
// other lines are an EINVALID error naming their line.
func ParseRPMVerify(lines []string) ([]patchpilot.ModifiedFile, error) {
	var mods []patchpilot.ModifiedFile
	for n, line := range lines {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "Unsatisfied dependencies for ") || strings.HasPrefix(line, "\t") {
			continue
		}
		checks, rest, ok := strings.Cut(line, " ")
		if !ok || (checks != "missing" && !rpmChecks(checks)) {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "rpm -V line %d: want \"CHECKS [c] /path\" or \"missing [c] /path\", got %q", n+1, line)
		}
		rest = strings.TrimLeft(rest, " ")
		attr := ""
		if a, p, ok := strings.Cut(rest, " "); ok && len(a) == 1 && strings.HasPrefix(strings.TrimLeft(p, " "), "/") {
			attr, rest = a, strings.TrimLeft(p, " ")
		}
		if !strings.HasPrefix(rest, "/") {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "rpm -V line %d: want an absolute path, got %q", n+1, line)
		}
		m := patchpilot.ModifiedFile{Path: rest, Conffile: attr == "c"}
		if checks == "missing" {
			m.Missing = true
		} else {
			m.Checks = checks
		}
		mods = append(mods, m)
	}
	return mods, nil
}

// rpmChecks reports whether s is rpm's verify column: 8 (rpm before 4.6)
// or 9 characters of test letters, '.' and '?'.
func rpmChecks(s string) bool {
	if len(s) != 8 && len(s) != 9 {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("SM5DLUGTP.?", r) {
			return false
		}
	}
	return true
}

// depth adds the Red Hat family's parts to the family-independent depth:
// modified files (rpm -Va) and, with the versionlock section, the locked
// packages.
func depth(d *patchpilot.HostDepth, t osfamily.Transcript) { RPMDepth(d, t, versionlockHeld) }

// RPMDepth adds what every rpm-based family reads alike to the
// family-independent depth: modified files (rpm -Va, which does not name
// packages), and the locked packages, which held reads from the depth
// step's sections in the family's own way. Foreign packages are not
// looked for on rpm hosts; Missing says so.
func RPMDepth(d *patchpilot.HostDepth, t osfamily.Transcript, held func(secs map[string][]string) []string) {
	res, ok := t.Get(osfamily.StepDepth)
	if !ok || res.ExitCode != 0 {
		return // Depth says why
	}
	secs := osfamily.Sections(res.Stdout)
	if _, ok := secs["verify"]; !ok {
		d.Missing = append(d.Missing, "modified, held: the package checks did not run")
		return
	}
	if mods, err := ParseRPMVerify(secs["verify"]); err != nil {
		d.Missing = append(d.Missing, "modified: "+err.Error())
	} else {
		d.Modified = mods
	}
	d.Held = held(secs)
	d.Missing = append(d.Missing, "foreign: not looked for on rpm hosts")
}

// versionlockHeld reads the packages dnf's versionlock list holds, from
// the versionlock section (nil without one).
func versionlockHeld(secs map[string][]string) []string {
	lines, ok := secs["versionlock"]
	if !ok {
		return nil
	}
	// "!" lines exclude a version from updates; they hold nothing.
	lines = slices.DeleteFunc(slices.Clone(lines), func(l string) bool { return strings.HasPrefix(strings.TrimSpace(l), "!") })
	held := ParseVersionlock([]byte(strings.Join(lines, "\n")))
	slices.Sort(held)
	return slices.Compact(held)
}
