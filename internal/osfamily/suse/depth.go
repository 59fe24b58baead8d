package suse

import (
	"slices"
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
	"github.com/patchpilot/patchpilot/internal/osfamily/redhat"
)

// depthPackagesScript is this family's part of the depth step (see
// osfamily.DepthStep). It prints, in sections headed "== NAME", the files of
// installed packages that differ from what rpm recorded ("verify": rpm
// -Va without file digests, dependencies or verify scripts, as on the Red
// Hat family) and the package locks ("locks": libzypp's /etc/zypp/locks,
// which "zypper addlock" writes, read directly: starting zypper would
// cost more than all the rest). It is a constant, never built from
// input.
const depthPackagesScript = `
echo "== verify"
rpm -Va --nofiledigest --nodeps --noscripts
echo "== locks"
cat /etc/zypp/locks 2>/dev/null`

// fullVerifyScript is depthPackagesScript with file digests checked.
const fullVerifyScript = `
echo "== verify"
rpm -Va --nodeps --noscripts
echo "== locks"
cat /etc/zypp/locks 2>/dev/null`

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

// ParseLocks returns the package names locked in libzypp's locks file
// (/etc/zypp/locks), sorted: stanzas of "key: value" lines separated by
// blank lines, as "zypper addlock vim" writes them ("type: package",
// "match_type: glob", "case_sensitive: on", "solvable_name: vim"). A
// stanza of another type (a patch, a pattern) is skipped; a stanza
// without a type locks a package.
func ParseLocks(lines []string) []string {
	var names []string
	name, kind := "", ""
	flush := func() {
		if name != "" && (kind == "" || kind == "package") && !strings.ContainsAny(name, " \t") && !slices.Contains(names, name) {
			names = append(names, name)
		}
		name, kind = "", ""
	}
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" {
			flush()
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "solvable_name":
			name = strings.TrimSpace(v)
		case "type":
			kind = strings.TrimSpace(v)
		}
	}
	flush()
	slices.Sort(names)
	return names
}

// depth adds SUSE's parts to the family-independent depth: modified files
// (rpm -Va) and the packages zypper's locks file locks.
func depth(d *patchpilot.HostDepth, t osfamily.Transcript) {
	redhat.RPMDepth(d, t, func(secs map[string][]string) []string { return ParseLocks(secs["locks"]) })
}
