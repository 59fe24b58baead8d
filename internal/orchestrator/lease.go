package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/patchpilot/patchpilot"
)

// bootIDFile holds the kernel's random id of the current boot: two
// processes with the same hostname and boot id run on one machine, in one
// boot, so a pid of one is meaningful to the other.
const bootIDFile = "/proc/sys/kernel/random/boot_id"

// LeaseOwner identifies a controller in leases: its machine (hostname,
// boot id and pid namespace), its pid there, and a random nonce so that two
// controllers never share an identity. It is written
// "host:pid:bootid:pidns:nonce".
type LeaseOwner struct {
	Host   string
	PID    int
	BootID string
	// PIDNamespace is the inode of the pid namespace the pid is counted
	// in: two containers of one machine may share a hostname and always
	// share the boot id, and a pid of one means nothing in the other.
	PIDNamespace string
	Nonce        string
}

func (o LeaseOwner) String() string {
	return fmt.Sprintf("%s:%d:%s:%s:%s", o.Host, o.PID, o.BootID, o.PIDNamespace, o.Nonce)
}

// ParseLeaseOwner reads an owner written by String. Owners of another form
// (older controllers, tests) are not parsed: nothing is known of them.
func ParseLeaseOwner(s string) (LeaseOwner, bool) {
	parts := strings.Split(s, ":")
	if len(parts) != 5 || parts[0] == "" || parts[2] == "" || parts[3] == "" {
		return LeaseOwner{}, false
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return LeaseOwner{}, false
	}
	return LeaseOwner{Host: parts[0], PID: pid, BootID: parts[2], PIDNamespace: parts[3], Nonce: parts[4]}, true
}

// Machine names the machine a controller runs on, for leases.
type Machine struct {
	Host         string
	BootID       string
	PIDNamespace string
}

// LocalMachine reads this machine's hostname, boot id and pid namespace.
func LocalMachine() (Machine, error) {
	h, err := os.Hostname()
	if err != nil {
		return Machine{}, err
	}
	b, err := os.ReadFile(bootIDFile)
	if err != nil {
		return Machine{}, err
	}
	// The link reads "pid:[4026531836]"; the number names the namespace.
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return Machine{}, err
	}
	ns = strings.TrimSuffix(strings.TrimPrefix(ns, "pid:["), "]")
	m := Machine{Host: h, BootID: strings.TrimSpace(string(b)), PIDNamespace: ns}
	for _, f := range []string{m.Host, m.BootID, m.PIDNamespace} {
		if f == "" || strings.Contains(f, ":") {
			return Machine{}, fmt.Errorf("machine identity %q/%q/%q: expected non-empty parts without \":\"", m.Host, m.BootID, m.PIDNamespace)
		}
	}
	return m, nil
}

// DefaultOwner names this process for leases (see LeaseOwner). When the
// machine's identity cannot be read, the owner is "host:pid:nonce", which
// names no machine: no controller will take its lease over before it
// expires.
func DefaultOwner() string {
	m, err := LocalMachine()
	if err != nil {
		h, _ := os.Hostname()
		return fmt.Sprintf("%s:%d:%s", h, os.Getpid(), randomHex(3))
	}
	return LeaseOwner{Host: m.Host, PID: os.Getpid(), BootID: m.BootID, PIDNamespace: m.PIDNamespace, Nonce: randomHex(3)}.String()
}

// processRunning reports whether pid names a live process of this
// machine. A zombie (dead, not yet reaped by its parent) is not running.
// When in doubt (no permission to ask), the process is taken to run.
func processRunning(pid int) bool {
	err := syscall.Kill(pid, 0)
	if errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, rerr := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if rerr != nil {
		return true
	}
	// The state follows the command name, which is in parentheses and
	// may itself contain ") ".
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z'
	}
	return true
}

// deadHolder explains why the lease holder is known to be dead, or returns
// "" when it may be alive: a holder is dead only when it names this machine
// (the same hostname, the same boot id and the same pid namespace, so that
// neither another machine, nor this one before a reboot, nor another
// container is mistaken for it) and its pid no longer runs here.
func (e *Engine) deadHolder(holder string) string {
	return DeadHolder(holder, e.Machine, e.ProcessRunning)
}

// DeadHolder says why the holder of a lease is known to be dead: a
// process of this machine (same hostname, boot and pid namespace) that no
// longer runs. It returns "" when nothing is known (another machine, an
// owner of another form, a live process, this process). local and running
// default to LocalMachine and the process table.
func DeadHolder(holder string, local func() (Machine, error), running func(pid int) bool) string {
	o, ok := ParseLeaseOwner(holder)
	if !ok {
		return ""
	}
	if local == nil {
		local = LocalMachine
	}
	m, err := local()
	if err != nil || m.Host != o.Host || m.BootID != o.BootID || m.PIDNamespace != o.PIDNamespace || o.PID == os.Getpid() {
		return ""
	}
	if running == nil {
		running = processRunning
	}
	if running(o.PID) {
		return ""
	}
	return fmt.Sprintf("its process %d no longer runs on this machine (%s, boot %s)", o.PID, o.Host, o.BootID)
}

// acquireLease takes the rollout's lease for owner: free, expired or its
// own, as the store grants it, or held by a controller known to be dead,
// which is taken over at once (and the event says so). It returns the
// holder when the lease is not granted.
func (e *Engine) acquireLease(ctx context.Context, id, owner string) (bool, string, error) {
	granted, holder, err := e.Store.AcquireLease(ctx, id, owner, e.leaseTTL())
	if err != nil || granted {
		return granted, holder, err
	}
	why := e.deadHolder(holder)
	if why == "" {
		return false, holder, nil
	}
	granted, now, err := e.Store.TakeOverLease(ctx, id, holder, owner, e.leaseTTL())
	if err != nil {
		return false, holder, err
	}
	if !granted {
		if now == "" {
			// Released meanwhile: take it the ordinary way.
			return e.Store.AcquireLease(ctx, id, owner, e.leaseTTL())
		}
		return false, now, nil
	}
	e.event(ctx, id, "", patchpilot.EventLease, fmt.Sprintf("took over the lease of rollout %s from controller %s at once: %s", id, holder, why), nil)
	return true, owner, nil
}
