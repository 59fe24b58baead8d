package debian

import (
	"slices"
	"strconv"
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
)

// StepVerify names the full verify step (dpkg --verify), which runs only
// when asked for.
const StepVerify = "verify"

// depthPackagesScript is the Debian part of the depth step (see
// osfamily.DepthStep). It prints, in sections headed "== NAME":
//
//   - conffiles: every package's conffiles with the md5sum dpkg recorded
//     (a line "PACKAGE STATUS", then " /path HASH [obsolete]" lines);
//   - md5sum: the md5sum of each of those files as it is now, with
//     md5sum's complaints about missing or unreadable files. This checks
//     what "dpkg --verify" reports with the 'c' marker at a fraction of
//     its cost: dpkg --verify hashes every file of every package;
//   - policy: the apt-cache policy blocks, among the installed
//     packages', of those whose installed version only the dpkg status
//     offers (no configured repository has it: a foreign package) or
//     with a version whose priority is not its sources' (an apt
//     preference pins it). One apt-cache call for every installed
//     package, filtered on the host, costs less than apt-cache policy's
//     general part plus apt list.
//
// It is a constant, never built from input.
const depthPackagesScript = `
set -f
echo "== conffiles"
l=$(dpkg-query -W -f '${binary:Package} ${db:Status-Abbrev}\n${Conffiles}\n')
printf '%s\n' "$l"
echo "== md5sum"
printf '%s\n' "$l" | sed -n 's/^ \(\/.*\) \([0-9a-f]\{32\}\|newconffile\)\( [a-z-]\{1,\}\)*$/\1/p' | xargs -r -d '\n' md5sum -- 2>&1
echo "== policyclock"
date +%s
case $1 in
  [1-9]*) [ -z "$(find /var/lib/dpkg/status /var/lib/apt/lists /etc/apt -newermt "@$1" -print -quit 2>/dev/null)" ] && set -- unchanged ;;
esac
if [ "$1" = unchanged ]; then
  echo "== policyunchanged"
else
echo "== policy"
printf '%s\n' "$l" | awk '/^[^ ]/ && $2 ~ /^.i/ { print $1 }' | xargs -r apt-cache policy -- 2>/dev/null | awk '
  function endrow() { if (inrow && nsrc > 0) { if (prio != maxp) keep = 1; if (star && onlystatus) keep = 1 }; inrow = 0 }
  function flush() { endrow(); if (keep) printf "%s", buf; buf = ""; keep = 0 }
  /^[^ ]/ { flush(); buf = $0 "\n"; next }
  { buf = buf $0 "\n" }
  /^ \*\*\* / || /^     [^ ]/ { endrow(); inrow = 1; star = ($1 == "***"); prio = $NF + 0; nsrc = 0; maxp = -100000; onlystatus = 1; next }
  /^        / && inrow { nsrc++; if ($1 + 0 > maxp) maxp = $1 + 0; if ($2 != "/var/lib/dpkg/status") onlystatus = 0 }
  END { flush() }'
fi`

// serviceSteps returns the steps listing services: in a collection in
// depth, the depth step with the Debian checks (conffiles, apt's
// policy), and with FullVerify, dpkg --verify of every file. Held
// packages come from the package list's selection status.
func serviceSteps(opts osfamily.Options) []osfamily.Step {
	steps := osfamily.ServiceSteps(opts, depthPackagesScript)
	if opts.Depth && opts.FullVerify {
		steps = append(steps, osfamily.Step{Name: StepVerify, Cmd: patchpilot.Command{Args: []string{"dpkg", "--verify"}, Privileged: true}})
	}
	return steps
}

// Conffile is one conffile as dpkg recorded it.
type Conffile struct {
	Package  string
	Path     string
	MD5      string // "newconffile" before the package was configured
	Obsolete bool
}

// ConffileCheck is what the conffile step printed: the recorded
// conffiles and the current hashes by path; Missing are files md5sum
// found missing, Unreadable those it could not read.
type ConffileCheck struct {
	Conffiles  []Conffile
	Current    map[string]string
	Missing    map[string]bool
	Unreadable []string
}

// ParseConffileCheck reads the conffiles and md5sum sections of the
// depth step (see osfamily.Sections). A conffile line
// of no known shape is an EINVALID error naming its line.
func ParseConffileCheck(secs map[string][]string) (ConffileCheck, error) {
	c := ConffileCheck{Current: map[string]string{}, Missing: map[string]bool{}}
	pkg := ""
	for n, line := range secs["conffiles"] {
		if !strings.HasPrefix(line, " ") {
			// "PACKAGE[:ARCH] STATUS"
			f := strings.Fields(line)
			pkg = ""
			if len(f) > 0 {
				pkg, _, _ = strings.Cut(f[0], ":")
			}
			continue
		}
		f := strings.Fields(line)
		// The path may hold spaces: the hash is the first field from
		// the end that is not a flag.
		end := len(f)
		obsolete := false
		for end > 1 && (f[end-1] == "obsolete" || f[end-1] == "remove-on-upgrade") {
			obsolete = obsolete || f[end-1] == "obsolete"
			end--
		}
		if end < 2 || pkg == "" || !strings.HasPrefix(f[0], "/") || !isMD5(f[end-1]) && f[end-1] != "newconffile" {
			return c, patchpilot.Errorf(patchpilot.EINVALID, "conffiles line %d: want \" /path md5sum [obsolete]\" after a package name, got %q", n+1, line)
		}
		path := strings.TrimSpace(line)
		path = strings.TrimSpace(path[:strings.LastIndex(path, f[end-1])])
		c.Conffiles = append(c.Conffiles, Conffile{Package: pkg, Path: path, MD5: f[end-1], Obsolete: obsolete})
	}
	for _, line := range secs["md5sum"] {
		if rest, ok := strings.CutPrefix(line, "md5sum: "); ok {
			i := strings.LastIndex(rest, ": ")
			if i < 0 {
				continue
			}
			path, why := rest[:i], rest[i+2:]
			if why == "No such file or directory" {
				c.Missing[path] = true
			} else {
				c.Unreadable = append(c.Unreadable, path)
			}
			continue
		}
		sum, path, ok := strings.Cut(line, "  ")
		if ok && isMD5(sum) {
			c.Current[path] = sum
		}
	}
	return c, nil
}

func isMD5(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// Modified returns the conffiles that differ from what their package
// shipped, in dpkg --verify's terms: Checks "??5??????" for a changed
// file, Missing for a removed one. Obsolete conffiles and those of
// packages not yet configured are not checked, as dpkg does not either.
func (c ConffileCheck) Modified() []patchpilot.ModifiedFile {
	var out []patchpilot.ModifiedFile
	for _, cf := range c.Conffiles {
		if cf.Obsolete || cf.MD5 == "newconffile" {
			continue
		}
		switch sum, ok := c.Current[cf.Path]; {
		case c.Missing[cf.Path]:
			out = append(out, patchpilot.ModifiedFile{Package: cf.Package, Path: cf.Path, Conffile: true, Missing: true})
		case ok && sum != cf.MD5:
			out = append(out, patchpilot.ModifiedFile{Package: cf.Package, Path: cf.Path, Conffile: true, Checks: "??5??????"})
		}
	}
	return out
}

// ParseDpkgVerify parses "dpkg --verify": "??5?????? c /path" for a file
// that differs (the 'c' marks a conffile) and "missing   c /path" for a
// removed one. dpkg does not name the package. Other lines are an
// EINVALID error naming their line.
func ParseDpkgVerify(out []byte) ([]patchpilot.ModifiedFile, error) {
	var mods []patchpilot.ModifiedFile
	for n, line := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		checks, rest, ok := strings.Cut(line, " ")
		if !ok || (len(checks) != 9 && checks != "missing") {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "dpkg --verify line %d: want \"CHECKS [c] /path\", got %q", n+1, line)
		}
		// The attribute marker is one character in the column after the
		// checks, then a space and the path.
		rest = strings.TrimLeft(rest, " ")
		conffile := false
		if c, p, ok := strings.Cut(rest, " "); ok && c == "c" && strings.HasPrefix(strings.TrimLeft(p, " "), "/") {
			conffile, rest = true, strings.TrimLeft(p, " ")
		}
		if !strings.HasPrefix(rest, "/") {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "dpkg --verify line %d: want an absolute path, got %q", n+1, line)
		}
		m := patchpilot.ModifiedFile{Path: rest, Conffile: conffile}
		if checks == "missing" {
			m.Missing = true
		} else {
			m.Checks = checks
		}
		mods = append(mods, m)
	}
	return mods, nil
}

// Held returns the packages whose dpkg selection is "hold" (apt-mark
// hold), from the package step's dpkg-query output (the first letter of
// ${db:Status-Abbrev}), sorted.
func Held(out []byte) []string {
	var held []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != dpkgFields || !strings.HasPrefix(f[5], "h") {
			continue
		}
		name, _, _ := strings.Cut(f[0], ":")
		if name != "" && !slices.Contains(held, name) {
			held = append(held, name)
		}
	}
	slices.Sort(held)
	return held
}

// Policy is one package's block of apt-cache policy.
type Policy struct {
	Installed string
	Candidate string
	Versions  []PolicyVersion
}

// PolicyVersion is a row of the version table: the version, its
// priority, and the sources offering it ("500
// file:/srv/repo ./ Packages", "100 /var/lib/dpkg/status") with their
// priorities.
type PolicyVersion struct {
	Version    string
	Priority   int
	Sources    []string
	Priorities []int
}

// Pinned reports whether an apt preference pins a version of the
// package: apt gives a version the priority of its package's pin, the
// highest of its sources' otherwise.
func (p Policy) Pinned() bool {
	for _, v := range p.Versions {
		if len(v.Priorities) > 0 && v.Priority != slices.Max(v.Priorities) {
			return true
		}
	}
	return false
}

// statusFile is the source apt lists for the installed version.
const statusFile = "/var/lib/dpkg/status"

// AptPolicy is what the apt policy section held: the pinned packages and
// the policies by package.
type AptPolicy struct {
	Pinned   []string
	Packages map[string]Policy
}

// ParseAptPolicy reads the policy section of the depth step:
// apt-cache policy's package blocks ("NAME:", "  Installed: V",
// "  Candidate: V", "  Version table:", version rows "VERSION PRIORITY"
// indented less than their source rows "PRIORITY SOURCE", " *** "
// marking the installed one).
func ParseAptPolicy(secs map[string][]string) AptPolicy {
	p := AptPolicy{Packages: map[string]Policy{}}
	name := ""
	var cur Policy
	flush := func() {
		if name != "" {
			p.Packages[name] = cur
			if cur.Pinned() && !slices.Contains(p.Pinned, name) {
				p.Pinned = append(p.Pinned, name)
			}
		}
		name, cur = "", Policy{}
	}
	for _, line := range secs["policy"] {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		switch {
		case indent == 0 && strings.HasSuffix(line, ":") && !strings.Contains(line, " "):
			flush()
			name, _, _ = strings.Cut(strings.TrimSuffix(line, ":"), ":")
		case name == "":
		case strings.HasPrefix(trimmed, "Installed: "):
			cur.Installed = strings.TrimPrefix(trimmed, "Installed: ")
		case strings.HasPrefix(trimmed, "Candidate: "):
			cur.Candidate = strings.TrimPrefix(trimmed, "Candidate: ")
		case trimmed == "Version table:" || strings.HasSuffix(trimmed, ":"):
		case strings.HasPrefix(trimmed, "*** ") || indent < 8:
			f := strings.Fields(strings.TrimPrefix(trimmed, "*** "))
			if len(f) == 2 {
				prio, err := strconv.Atoi(f[1])
				if err == nil {
					cur.Versions = append(cur.Versions, PolicyVersion{Version: f[0], Priority: prio})
				}
			}
		default:
			if len(cur.Versions) == 0 {
				continue
			}
			prio, src, ok := strings.Cut(trimmed, " ")
			n, err := strconv.Atoi(prio)
			if !ok || err != nil {
				continue
			}
			v := &cur.Versions[len(cur.Versions)-1]
			v.Sources = append(v.Sources, strings.TrimSpace(src))
			v.Priorities = append(v.Priorities, n)
		}
	}
	flush()
	slices.Sort(p.Pinned)
	return p
}

// Foreign returns the packages whose installed version no repository
// offers, with the highest version a repository offers as the candidate
// and how the installed version compares, sorted by name.
func (p AptPolicy) Foreign() []patchpilot.ForeignPackage {
	var out []patchpilot.ForeignPackage
	for name, pol := range p.Packages {
		if pol.Installed == "" || pol.Installed == "(none)" {
			continue
		}
		best, local := "", true
		for _, v := range pol.Versions {
			fromRepo := false
			for _, s := range v.Sources {
				fromRepo = fromRepo || s != statusFile
			}
			if !fromRepo {
				continue
			}
			if v.Version == pol.Installed {
				local = false
			}
			if best == "" {
				best = v.Version
			} else if c, err := osfamily.CompareVersions(patchpilot.FamilyDebian, v.Version, best); err == nil && c > 0 {
				best = v.Version
			}
		}
		if !local {
			continue
		}
		fp := patchpilot.ForeignPackage{Name: name, Version: pol.Installed, Candidate: best, Relation: patchpilot.ForeignNoCandidate}
		if best != "" {
			fp.Relation = patchpilot.ForeignOlder
			if c, err := osfamily.CompareVersions(patchpilot.FamilyDebian, pol.Installed, best); err == nil && c > 0 {
				fp.Relation = patchpilot.ForeignNewer
			}
		}
		out = append(out, fp)
	}
	slices.SortFunc(out, func(a, b patchpilot.ForeignPackage) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// depth adds the Debian parts to the family-independent depth: modified
// conffiles (or files, after a full verify), held, pinned and foreign
// packages. What could not be read goes to Missing.
func depth(d *patchpilot.HostDepth, t osfamily.Transcript, packagesOut []byte) {
	d.Held = Held(packagesOut)
	res, ok := t.Get(osfamily.StepDepth)
	if !ok || res.ExitCode != 0 {
		return // Depth says why
	}
	secs := osfamily.Sections(res.Stdout)
	if res, ok := t.Get(StepVerify); ok {
		// dpkg --verify exits 1 when it found differences.
		mods, err := ParseDpkgVerify(res.Stdout)
		switch {
		case res.ExitCode > 1:
			d.Missing = append(d.Missing, "modified: dpkg --verify failed with exit status "+strconv.Itoa(res.ExitCode))
		case err != nil:
			d.Missing = append(d.Missing, "modified: "+err.Error())
		default:
			d.Modified = mods
		}
	} else if check, err := ParseConffileCheck(secs); err != nil {
		d.Missing = append(d.Missing, "modified: "+err.Error())
	} else {
		d.Modified = check.Modified()
		if len(check.Unreadable) > 0 {
			d.Missing = append(d.Missing, "modified: "+strconv.Itoa(len(check.Unreadable))+" conffiles could not be read (not root?), such as "+check.Unreadable[0])
		}
	}
	if _, ok := secs["conffiles"]; !ok {
		d.Missing = append(d.Missing, "modified, pinned, foreign: the Debian checks did not run")
		return
	}
	if clock := secs["policyclock"]; len(clock) > 0 {
		if n, err := strconv.ParseInt(strings.TrimSpace(clock[0]), 10, 64); err == nil && n > 0 {
			d.PolicyClock = n
		}
	}
	if _, ok := secs["policyunchanged"]; ok {
		d.PolicyUnchanged = true
		return
	}
	pol := ParseAptPolicy(secs)
	d.Pinned = pol.Pinned
	d.Foreign = pol.Foreign()
}
