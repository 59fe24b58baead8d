// Package fleet simulates a fleet of Debian hosts behind the same
// interface as SSH (patchpilot.Dialer and patchpilot.Runner), for the
// scale benchmarks and the demo only: nothing is tested only against it.
//
// A simulated host answers the commands that the real collectors
// (internal/osfamily, internal/osfamily/debian) and the Debian package
// manager (apply, rollback, their preflight and snapshot, the detached
// transactions of internal/pkgmgr/systemdrun) send, with outputs built
// from a recording of a real Debian 12 host (the files in recorded/, see
// recorded/README.md). Each host varies: its name and role, its boot id
// and kernel, the installed packages (a subset of the recorded ones) and
// its pending updates (a draw from the recorded catalog of upgrades). It
// keeps state: an apply installs the new versions, a rollback the old
// ones, and later listings say so. A command it does not know gets an
// error, never a made-up success.
package fleet

import (
	"bytes"
	"embed"
	"fmt"
	"strings"

	"github.com/patchpilot/patchpilot"
)

//go:embed recorded
var recordedFS embed.FS

// Upgrade is one pending upgrade of the recording: apt-get -s
// dist-upgrade's Inst line.
type Upgrade struct {
	Package string
	Arch    string // from the Inst line's [arch]
	Old     string // the installed version before the upgrade
	New     string // the candidate version
	Origin  string // "Debian:12.15/oldstable", "Debian-Security:12/oldstable-security"
}

// installedPackage is one line of the recorded dpkg-query listing.
type installedPackage struct {
	qualified  string // ${binary:Package}: "libc6:amd64" for Multi-Arch: same
	name       string
	version    string
	arch       string
	source     string
	srcVersion string
	upgrade    int // index in catalog, -1 when the recording had no upgrade
}

// Recording is what the simulated hosts answer from: the recorded
// os-release and probe output, kernel, packages, upgrades and services.
type Recording struct {
	filesOut []byte // tail's output, boot id line replaced per host
	filesErr []byte
	bootID   string // the recorded boot id, replaced per host
	kernel   string
	arch     string
	packages []installedPackage
	catalog  []Upgrade
	byName   map[string]int // package name → index in catalog
	pkgIndex map[string]int // package name → index in packages
	services []byte
}

// Catalog returns the recorded upgrades, which each host's pending
// updates are drawn from.
func (r *Recording) Catalog() []Upgrade { return append([]Upgrade(nil), r.catalog...) }

// Packages is how many packages the recording has installed.
func (r *Recording) Packages() int { return len(r.packages) }

// LoadRecording reads the embedded recording.
func LoadRecording() (*Recording, error) {
	read := func(name string) ([]byte, error) {
		b, err := recordedFS.ReadFile("recorded/" + name)
		if err != nil {
			return nil, fmt.Errorf("simulated fleet: read recording: %w", err)
		}
		return b, nil
	}
	r := &Recording{byName: map[string]int{}, pkgIndex: map[string]int{}}
	var err error
	if r.filesOut, err = read("files.out"); err != nil {
		return nil, err
	}
	if r.filesErr, err = read("files.err"); err != nil {
		return nil, err
	}
	const bootHeader = "==> /proc/sys/kernel/random/boot_id <==\n"
	i := bytes.Index(r.filesOut, []byte(bootHeader))
	if i < 0 {
		return nil, fmt.Errorf("simulated fleet: recorded files.out: no boot id section")
	}
	r.bootID, _, _ = strings.Cut(string(r.filesOut[i+len(bootHeader):]), "\n")
	uname, err := read("uname.out")
	if err != nil {
		return nil, err
	}
	f := strings.Fields(string(uname))
	if len(f) != 3 {
		return nil, fmt.Errorf("simulated fleet: recorded uname.out: want 3 fields, got %d", len(f))
	}
	r.kernel, r.arch = f[1], f[2]
	if r.services, err = read("services.out"); err != nil {
		return nil, err
	}
	updates, err := read("updates.out")
	if err != nil {
		return nil, err
	}
	for n, line := range strings.Split(string(updates), "\n") {
		rest, ok := strings.CutPrefix(line, "Inst ")
		if !ok {
			continue
		}
		u, err := parseInst(rest)
		if err != nil {
			return nil, fmt.Errorf("simulated fleet: recorded updates.out line %d: %w", n+1, err)
		}
		if _, dup := r.byName[u.Package]; dup {
			return nil, fmt.Errorf("simulated fleet: recorded updates.out line %d: %s upgraded twice", n+1, u.Package)
		}
		r.byName[u.Package] = len(r.catalog)
		r.catalog = append(r.catalog, u)
	}
	pkgs, err := read("packages.out")
	if err != nil {
		return nil, err
	}
	for n, line := range strings.Split(string(pkgs), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 6 || !strings.HasPrefix(f[5], "ii") {
			return nil, fmt.Errorf("simulated fleet: recorded packages.out line %d: want 6 fields of an installed package", n+1)
		}
		name, _, _ := strings.Cut(f[0], ":")
		p := installedPackage{qualified: f[0], name: name, version: f[1], arch: f[2], source: f[3], srcVersion: f[4], upgrade: -1}
		if c, ok := r.byName[name]; ok {
			if r.catalog[c].Old != p.version {
				return nil, fmt.Errorf("simulated fleet: recorded packages.out line %d: %s is %s, the upgrade is from %s", n+1, name, p.version, r.catalog[c].Old)
			}
			p.upgrade = c
		}
		r.pkgIndex[name] = len(r.packages)
		r.packages = append(r.packages, p)
	}
	for _, u := range r.catalog {
		if _, ok := r.pkgIndex[u.Package]; !ok {
			return nil, fmt.Errorf("simulated fleet: recorded upgrade of %s, which is not installed", u.Package)
		}
	}
	return r, nil
}

// parseInst reads "NAME [OLD] (NEW ORIGIN [ARCH]) [...]".
func parseInst(rest string) (Upgrade, error) {
	var u Upgrade
	name, rest, _ := strings.Cut(rest, " ")
	u.Package, _, _ = strings.Cut(name, ":")
	if !strings.HasPrefix(rest, "[") {
		return u, fmt.Errorf("want [installed version] after %s", name)
	}
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return u, fmt.Errorf("want ] after the installed version")
	}
	u.Old, rest = rest[1:end], strings.TrimSpace(rest[end+1:])
	open, close := strings.IndexByte(rest, '('), strings.Index(rest, "])")
	if open != 0 || close < 0 {
		return u, fmt.Errorf("want (candidate origin [arch])")
	}
	cand := rest[1 : close+1]
	u.New, cand, _ = strings.Cut(cand, " ")
	i := strings.LastIndex(cand, " [")
	if i < 0 || u.New == "" {
		return u, fmt.Errorf("want a candidate, origin and [arch]")
	}
	u.Origin, u.Arch = cand[:i], strings.TrimSuffix(cand[i+2:], "]")
	return u, nil
}

// errUnknown is the answer to a command a simulated host does not know.
func errUnknown(host string, cmd patchpilot.Command) error {
	s := cmd.String()
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return patchpilot.Errorf(patchpilot.EUNSUPPORTED, "simulated host %s: no simulated answer to %q", host, s)
}
