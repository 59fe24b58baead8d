// Package debian collects facts from Debian and Ubuntu hosts with dpkg and
// apt. Commands are argument lists; parsers are pure functions of their
// output, tested on transcripts under testdata/.
package debian

import (
	"strings"

	"github.com/patchpilot/patchpilot"
)

// dpkgFormat is the dpkg-query output format: one tab-separated line per
// package. ${binary:Package} carries an ":arch" qualifier for Multi-Arch:
// same packages; the parser strips it, since the architecture has its own
// field.
const dpkgFormat = `${binary:Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\t${db:Status-Abbrev}\n`

// dpkgFields is how many fields each dpkg-query line has.
const dpkgFields = 6

// dpkgStatus maps the second letter of dpkg's status abbreviation to the
// word dpkg uses for it. "" is installed; not-installed packages are
// dropped.
var dpkgStatus = map[byte]string{
	'i': "",
	'c': "config-files",
	'H': "half-installed",
	'U': "unpacked",
	'F': "half-configured",
	'W': "triggers-awaited",
	't': "triggers-pending",
}

// ParseDpkgQuery parses the output of dpkg-query -W with dpkgFormat.
//
// Every package dpkg knows is kept, including packages removed but not
// purged (status "rc"), which carry Status "config-files": this way the
// list has exactly the entries "dpkg-query -W" prints, and consumers that
// want installed packages only skip those with a non-empty Status.
// Packages dpkg marks not-installed are dropped, as dpkg-query -W does.
func ParseDpkgQuery(out []byte) ([]patchpilot.Package, error) {
	var pkgs []patchpilot.Package
	for n, line := range strings.Split(string(out), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != dpkgFields {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "dpkg-query line %d: want %d tab-separated fields (package, version, architecture, source, source version, status), got %d", n+1, dpkgFields, len(f))
		}
		name, _, _ := strings.Cut(f[0], ":")
		abbrev := strings.TrimRight(f[5], " ")
		if name == "" || len(abbrev) < 2 {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "dpkg-query line %d: want a package name and a status like \"ii\", got %q and %q", n+1, f[0], f[5])
		}
		status, known := dpkgStatus[abbrev[1]]
		if abbrev[1] == 'n' {
			continue
		}
		if !known {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "dpkg-query line %d: unknown package status %q", n+1, abbrev)
		}
		if len(abbrev) > 2 && abbrev[2] == 'R' {
			status = strings.TrimPrefix(status+",reinst-required", ",")
		}
		if f[1] == "" && status == "" {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "dpkg-query line %d: installed package %s has no version", n+1, name)
		}
		src, srcVersion := sourceOf(f[3], f[4])
		if src == "" {
			src = name
		}
		if srcVersion == "" {
			srcVersion = f[1]
		}
		pkgs = append(pkgs, patchpilot.Package{
			Name:          name,
			Version:       f[1],
			Arch:          f[2],
			SourceName:    src,
			SourceVersion: srcVersion,
			Status:        status,
		})
	}
	return pkgs, nil
}

// sourceOf splits a source field. ${source:Package} is a bare name, but
// the raw Source field that older formats print reads "name (version)"
// when the source version differs from the binary's.
func sourceOf(name, version string) (string, string) {
	name = strings.TrimSpace(name)
	if n, v, ok := strings.Cut(name, " ("); ok && strings.HasSuffix(v, ")") {
		name = n
		if version == "" {
			version = strings.TrimSuffix(v, ")")
		}
	}
	return name, strings.TrimSpace(version)
}
