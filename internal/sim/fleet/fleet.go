package fleet

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/bits"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"

	"github.com/patchpilot/patchpilot"
)

// Config shapes a simulated fleet.
type Config struct {
	// Hosts in the fleet.
	Hosts int
	// Pending updates per host, drawn from the recording's catalog of
	// upgrades (at most its size, 121). Default 50.
	Pending int
	// Packages installed per host: every package of the catalog and
	// others of the recording drawn per host, up to this many (at most
	// the recording's 796). Default 300, a server's installed set.
	Packages int
	// Seed makes the fleet reproducible.
	Seed uint64
}

// Roles are the hosts' roles, in the order they are dealt; each host
// carries its role as the label "role" and a group of the same name.
var Roles = []string{"web", "api", "db", "cache", "lb", "worker"}

// Fleet is a simulated fleet: a patchpilot.Dialer to its hosts.
type Fleet struct {
	rec   *Recording
	cfg   Config
	hosts []*Host
	index map[string]*Host
}

var _ patchpilot.Dialer = (*Fleet)(nil)

// New builds a fleet from the embedded recording.
func New(cfg Config) (*Fleet, error) {
	rec, err := LoadRecording()
	if err != nil {
		return nil, err
	}
	if cfg.Pending == 0 {
		cfg.Pending = 50
	}
	if cfg.Packages == 0 {
		cfg.Packages = 300
	}
	switch {
	case cfg.Hosts < 1:
		return nil, fmt.Errorf("simulated fleet: hosts: want at least 1, got %d", cfg.Hosts)
	case cfg.Pending < 0 || cfg.Pending > len(rec.catalog):
		return nil, fmt.Errorf("simulated fleet: pending: want 0 to %d (the recorded upgrades), got %d", len(rec.catalog), cfg.Pending)
	case cfg.Packages < len(rec.catalog) || cfg.Packages > len(rec.packages):
		return nil, fmt.Errorf("simulated fleet: packages: want %d to %d, got %d", len(rec.catalog), len(rec.packages), cfg.Packages)
	}
	f := &Fleet{rec: rec, cfg: cfg, hosts: make([]*Host, cfg.Hosts), index: make(map[string]*Host, cfg.Hosts)}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x70617463))
	for i := range f.hosts {
		h := &Host{fleet: f, seq: i, role: Roles[i%len(Roles)]}
		h.name = fmt.Sprintf("%s-%06d", h.role, i+1)
		h.boot = rng.Uint64()
		// Pending: cfg.Pending catalog entries left at the old version.
		h.upgraded = newBits(len(rec.catalog))
		for j := range rec.catalog {
			h.upgraded.set(j)
		}
		for _, j := range rng.Perm(len(rec.catalog))[:cfg.Pending] {
			h.upgraded.clear(j)
		}
		f.hosts[i] = h
		f.index[h.name] = h
	}
	return f, nil
}

// Recording is the recording the fleet answers from.
func (f *Fleet) Recording() *Recording { return f.rec }

// Inventory returns the fleet's hosts as an inventory would list them.
func (f *Fleet) Inventory() []patchpilot.Host {
	out := make([]patchpilot.Host, len(f.hosts))
	for i, h := range f.hosts {
		env := "prod"
		if h.seq%5 == 4 {
			env = "staging"
		}
		out[i] = patchpilot.Host{Name: h.name, Address: h.name, Groups: []string{h.role},
			Labels: map[string]string{"role": h.role, "env": env}, Source: "simulated"}
	}
	return out
}

// Host returns the simulated host of that name, or nil.
func (f *Fleet) Host(name string) *Host { return f.index[name] }

// Dial opens a runner to a simulated host; a name the fleet does not
// have is unreachable.
func (f *Fleet) Dial(_ context.Context, h patchpilot.Host) (patchpilot.Runner, error) {
	sh := f.index[h.Name]
	if sh == nil {
		return nil, patchpilot.Errorf(patchpilot.EUNREACHABLE, "simulated fleet has no host %q", h.Name)
	}
	return sh, nil
}

// Host is one simulated host; it is its own patchpilot.Runner.
type Host struct {
	fleet *Fleet
	seq   int
	name  string
	role  string
	boot  uint64

	mu       sync.Mutex
	upgraded bitset            // catalog entries at their new version
	files    map[string]string // artifacts kept on the host: path → "name\x00version"
	jobs     map[string]*job   // detached transactions by unit
}

type job struct {
	args []string
	rc   int
	log  string
}

var _ patchpilot.Runner = (*Host)(nil)

// Name is the host's inventory name (and host name).
func (h *Host) Name() string { return h.name }

// Role is the host's role.
func (h *Host) Role() string { return h.role }

// BootID is the host's boot id as the kernel prints it.
func (h *Host) BootID() string {
	b := h.boot
	s := fmt.Sprintf("%016x%016x", b, bits.RotateLeft64(b, 29)^0x9e3779b97f4a7c15)
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

// Kernel is the host's kernel release: the recorded one, with a build
// number that varies across the fleet.
func (h *Host) Kernel() string {
	return h.fleet.rec.kernel + "-b" + strconv.Itoa(h.seq%7)
}

// Close does nothing: a simulated host has no connection.
func (h *Host) Close() error { return nil }

// Pending returns the host's pending upgrades, in catalog order.
func (h *Host) Pending() []Upgrade {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Upgrade
	for i, u := range h.fleet.rec.catalog {
		if !h.upgraded.has(i) {
			out = append(out, u)
		}
	}
	return out
}

// Installed returns the installed version of a package, "" when the host
// does not have it.
func (h *Host) Installed(name string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, _ := h.installedLocked(name)
	return v
}

// installed reports the version and whether the host has the package.
func (h *Host) installedLocked(name string) (string, bool) {
	rec := h.fleet.rec
	i, ok := rec.pkgIndex[name]
	if !ok || !h.hasPackage(i) {
		return "", false
	}
	p := rec.packages[i]
	if p.upgrade >= 0 && h.upgraded.has(p.upgrade) {
		return rec.catalog[p.upgrade].New, true
	}
	return p.version, true
}

// hasPackage reports whether the host has the recording's i-th package:
// every package with an upgrade in the catalog, and of the others a
// share drawn per host (a hash of the host and the package), so that
// each host has about Config.Packages.
func (h *Host) hasPackage(i int) bool {
	rec := h.fleet.rec
	if rec.packages[i].upgrade >= 0 {
		return true
	}
	others := len(rec.packages) - len(rec.catalog)
	want := h.fleet.cfg.Packages - len(rec.catalog)
	if want >= others {
		return true
	}
	x := fnv.New64a()
	fmt.Fprintf(x, "%d/%d/%s", h.fleet.cfg.Seed, h.seq, rec.packages[i].name)
	return x.Sum64()%uint64(others) < uint64(want)
}

// packageNames lists the installed packages' names, sorted.
func (h *Host) packageNames() []string {
	var out []string
	for i, p := range h.fleet.rec.packages {
		if h.hasPackage(i) {
			out = append(out, p.name)
		}
	}
	sort.Strings(out)
	return out
}

// bitset is a fixed-size set of small integers.
type bitset []uint64

func newBits(n int) bitset      { return make(bitset, (n+63)/64) }
func (b bitset) set(i int)      { b[i/64] |= 1 << (i % 64) }
func (b bitset) clear(i int)    { b[i/64] &^= 1 << (i % 64) }
func (b bitset) has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }
