package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Files and directories inside the lab directory. Down removes exactly
// these, so a lab directory pointed at a directory with other files in it
// never loses them.
const (
	stateFile       = "state.json"
	lockFile        = "lock"
	inventoryFile   = "inventory.ini"
	knownHostsFile  = "known_hosts"
	keyFile         = "id_ed25519"
	ansibleCfgFile  = "ansible.cfg"
	hostsDir        = "hosts"
	prometheusDir   = "prometheus"
	stateVersion    = 1
	cgroupNamespace = "patchpilot-lab"
)

// Lab phases recorded in the state file.
const (
	phaseStarting = "starting"
	phaseUp       = "up"
	phaseStopping = "stopping"
)

// State is the lab's state file. It is written before every side effect, so
// that Down can undo whatever a killed process left behind.
type State struct {
	Version   int         `json:"version"`
	ID        string      `json:"id"` // random, names the lab's cgroups and firewall rules
	Dir       string      `json:"dir"`
	Phase     string      `json:"phase"`
	Suite     string      `json:"suite"`
	Subnet    string      `json:"subnet"`
	CreatedAt time.Time   `json:"created_at"`
	Base      string      `json:"base"`              // debootstrap base (lowest layer)
	Layer     string      `json:"layer"`             // lab customisation and installed packages
	Repo      string      `json:"repo"`              // apt repository bound into every host
	Profile   string      `json:"profile,omitempty"` // Options.Profile
	Hosts     []HostState `json:"hosts"`
	// PrometheusPID is the Prometheus server's pid, 0 when not started.
	PrometheusPID     int    `json:"prometheus_pid,omitempty"`
	PrometheusAddress string `json:"prometheus_address,omitempty"`
	// Owner is the process the lab belongs to (EnvOwner), "" for none.
	Owner string `json:"owner,omitempty"`
}

// HostState is one host in the state file.
type HostState struct {
	Name    string            `json:"name"`
	Address string            `json:"address"`
	Labels  map[string]string `json:"labels"`
	// Extra is the cached layer of the host's extra packages
	// (Options.HostPackages), its topmost lower layer; "" for none.
	Extra string `json:"extra,omitempty"`
	// Layers are the host's profile layers (topmost first), between Extra
	// and the lab layer; none in the default profile.
	Layers []string `json:"layers,omitempty"`
	// SupervisorPID is the per-host supervisor (a shell loop that restarts
	// systemd-nspawn when the host reboots); its process group holds
	// systemd-nspawn.
	SupervisorPID int `json:"supervisor_pid,omitempty"`
	// Faults are the fault kinds injected and not yet healed.
	Faults []string `json:"faults,omitempty"`
	// LockPID holds the dpkg lock for the dpkg-lock fault.
	LockPID int `json:"lock_pid,omitempty"`
}

func (s *State) host(name string) (*HostState, error) {
	for i := range s.Hosts {
		if s.Hosts[i].Name == name {
			return &s.Hosts[i], nil
		}
	}
	return nil, patchpilot.Errorf(patchpilot.ENOTFOUND, "host %q is not in the lab", name).
		WithHint("run 'patchpilot lab status' to list the hosts")
}

// hostDir is where one host's files live.
func (s *State) hostDir(name string) string { return filepath.Join(s.Dir, hostsDir, name) }

// loadState reads DIR/state.json.
func loadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, patchpilot.Errorf(patchpilot.ENOTFOUND, "no lab in %s", dir).
			WithHint("start one with 'patchpilot lab up', or name its directory with --dir")
	}
	if err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINTERNAL, "read lab state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: not a lab state file: %w", filepath.Join(dir, stateFile), err).
			WithHint("remove the file if no lab runs from this directory")
	}
	if s.Version != stateVersion {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: state version %d, want %d", filepath.Join(dir, stateFile), s.Version, stateVersion)
	}
	s.Dir = dir
	return &s, nil
}

// save writes the state atomically: a reader sees the old or the new file,
// never half of one.
func (s *State) save() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "encode lab state: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(s.Dir, stateFile), append(b, '\n'), 0o600); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "write lab state: %w", err)
	}
	return nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// dirLock is an exclusive lock on a lab directory, so that two commands never
// change one lab at once.
type dirLock struct{ f *os.File }

func lockDir(dir string) (*dirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINTERNAL, "create lab directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINTERNAL, "open lab lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, patchpilot.Errorf(patchpilot.ECONFLICT, "lab %s is busy: another patchpilot lab command holds its lock", dir).
			WithHint("wait for the other command to finish")
	}
	return &dirLock{f: f}, nil
}

func (l *dirLock) unlock() {
	if l != nil && l.f != nil {
		_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
		l.f.Close()
	}
}

// hostName names host i (from 1) as lab01, lab02, ...
func hostName(i int) string { return fmt.Sprintf("lab%02d", i) }

// lockCache takes the cache's build lock, waiting for another process's
// build to finish: one debootstrap at a time, and the others reuse its base.
func lockCache(ctx context.Context, dir string) (*dirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINTERNAL, "create cache directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINTERNAL, "open cache lock: %w", err)
	}
	for {
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
			return &dirLock{f: f}, nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
