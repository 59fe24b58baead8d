// Package redhat collects facts from RHEL-family hosts (RHEL, Rocky, Alma,
// CentOS Stream, Fedora) with rpm and dnf. Commands are argument lists;
// parsers are pure functions of their output, tested on transcripts under
// testdata/.
package redhat

import (
	"strings"

	"github.com/patchpilot/patchpilot"
)

// RPMQueryFormat is the rpm query format: one tab-separated line per
// package. SUSE shares it.
const RPMQueryFormat = `%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\n`

// rpmFields is how many fields each rpm query line has.
const rpmFields = 6

// rpmNone is what rpm prints for a tag a package does not have; the
// gpg-pubkey pseudo-packages have no architecture nor source rpm.
const rpmNone = "(none)"

// RPMQueryCommand lists installed packages; SUSE uses it too.
func RPMQueryCommand() patchpilot.Command {
	return patchpilot.Command{Args: []string{"rpm", "-qa", "--qf", RPMQueryFormat}}
}

// ParseRPMQuery parses the output of RPMQueryCommand. Versions are
// "version-release", prefixed with "epoch:" when the epoch is not 0, as
// rpm's own ordering and advisories write them. The source package is
// the name in the source rpm's file name; its version carries the same
// epoch as the binary, since a source rpm file name has none. Every
// package rpm lists is kept, the gpg-pubkey entries included, so the
// count matches "rpm -qa | wc -l".
func ParseRPMQuery(out []byte) ([]patchpilot.Package, error) {
	var pkgs []patchpilot.Package
	for n, line := range strings.Split(string(out), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != rpmFields {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "rpm query line %d: want %d tab-separated fields (name, epoch, version, release, arch, source rpm), got %d", n+1, rpmFields, len(f))
		}
		name, epoch, version, release, arch, srpm := f[0], f[1], f[2], f[3], f[4], f[5]
		if name == "" || version == "" {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "rpm query line %d: want a name and a version, got %q", n+1, truncate(line, 120))
		}
		if epoch == rpmNone {
			epoch = ""
		}
		if arch == rpmNone {
			arch = ""
		}
		p := patchpilot.Package{Name: name, Version: EVR(epoch, version, release), Arch: arch}
		if srcName, srcVersion, srcRelease, ok := splitSourceRPM(srpm); ok {
			p.SourceName, p.SourceVersion = srcName, EVR(epoch, srcVersion, srcRelease)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

// EVR joins an epoch, version and release the way rpm compares them,
// leaving out an epoch of 0 and an empty release.
func EVR(epoch, version, release string) string {
	v := version
	if release != "" {
		v += "-" + release
	}
	if epoch != "" && epoch != "0" {
		v = epoch + ":" + v
	}
	return v
}

// splitSourceRPM splits "bash-5.1.8-9.el9.src.rpm" into name, version and
// release.
func splitSourceRPM(srpm string) (name, version, release string, ok bool) {
	s, found := strings.CutSuffix(srpm, ".src.rpm")
	if !found {
		if s, found = strings.CutSuffix(srpm, ".nosrc.rpm"); !found {
			return "", "", "", false
		}
	}
	i := strings.LastIndexByte(s, '-')
	if i <= 0 {
		return "", "", "", false
	}
	s, release = s[:i], s[i+1:]
	j := strings.LastIndexByte(s, '-')
	if j <= 0 {
		return "", "", "", false
	}
	return s[:j], s[j+1:], release, true
}

// SplitNEVRA splits "name-[epoch:]version-release.arch", as dnf prints
// packages, into name, arch and "[epoch:]version-release".
func SplitNEVRA(nevra string) (name, arch, evr string, ok bool) {
	dot := strings.LastIndexByte(nevra, '.')
	if dot <= 0 {
		return "", "", "", false
	}
	nevr, arch := nevra[:dot], nevra[dot+1:]
	r := strings.LastIndexByte(nevr, '-')
	if r <= 0 {
		return "", "", "", false
	}
	v := strings.LastIndexByte(nevr[:r], '-')
	if v <= 0 || arch == "" {
		return "", "", "", false
	}
	return nevr[:v], arch, nevr[v+1:], true
}

// splitNameArch splits "name.arch" at the last dot.
func splitNameArch(na string) (string, string, bool) {
	i := strings.LastIndexByte(na, '.')
	if i <= 0 || i == len(na)-1 {
		return "", "", false
	}
	return na[:i], na[i+1:], true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
