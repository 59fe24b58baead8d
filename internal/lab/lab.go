package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Lab is a running (or stopped) lab, as recorded in its directory.
type Lab struct {
	state  *State
	logger *slog.Logger
}

// Host states reported by Status.
const (
	StateRunning     = "running"     // systemd-nspawn runs and sshd answers
	StateUnreachable = "unreachable" // systemd-nspawn runs but sshd does not answer
	StateStopped     = "stopped"     // no systemd-nspawn for the host
)

// HostStatus is one host's row in Status.
type HostStatus struct {
	Name    string            `json:"name"`
	Address string            `json:"address"`
	State   string            `json:"state"`
	BootID  string            `json:"boot_id,omitempty"`
	PID     int               `json:"pid,omitempty"` // systemd-nspawn's pid
	Labels  map[string]string `json:"labels"`
	Faults  []string          `json:"faults,omitempty"`
}

// Up starts a lab in o.Dir. A lab left there by a killed or crashed process
// is cleaned up first. When Up fails, it leaves nothing running.
func Up(ctx context.Context, o Options) (_ *Lab, err error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	if err := CheckHost(o.Prometheus); err != nil {
		return nil, err
	}
	if err := raiseInotifyLimit(o.Hosts, o.Logger); err != nil {
		return nil, err
	}
	owner, err := ownerOf(o)
	if err != nil {
		return nil, err
	}
	lock, err := lockDir(o.Dir)
	if err != nil {
		return nil, err
	}
	defer lock.unlock()
	if err := reclaimAbandoned(ctx, o.Dir, o.Logger); err != nil {
		o.Logger.Warn("an abandoned lab is still up", "err", err)
	}
	if old, err := loadState(o.Dir); err == nil {
		o.Logger.Info("cleaning up a previous lab", "dir", o.Dir, "phase", old.Phase)
		if err := down(ctx, old, o.Logger, true); err != nil {
			return nil, patchpilot.Errorf(patchpilot.ECONFLICT, "clean up the previous lab in %s: %w", o.Dir, err)
		}
	} else if patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND {
		return nil, err
	}
	start := time.Now()
	base, repo, layer, extras, roles, err := ensureCache(ctx, o)
	if err != nil {
		return nil, err
	}
	s := &State{Version: stateVersion, ID: randomHex(4), Dir: o.Dir, Phase: phaseStarting, Suite: o.Suite, Subnet: o.Subnet,
		CreatedAt: time.Now().UTC(), Base: base, Layer: layer, Repo: repo, Profile: o.Profile, Owner: owner}
	for i := 1; i <= o.Hosts; i++ {
		labels := hostLabels(i, o.Hosts)
		s.Hosts = append(s.Hosts, HostState{Name: hostName(i), Address: fmt.Sprintf("%s.%d", o.Subnet, i), Labels: labels,
			Extra: extras[hostName(i)], Layers: roles[labels[patchpilot.LabelRole]]})
	}
	for _, h := range s.Hosts {
		if listening(ctx, net.JoinHostPort(h.Address, "22"), 300*time.Millisecond) {
			hint := "another lab may be running: stop it with 'patchpilot lab down --dir DIR'"
			if dir, ok := registered(o.Subnet); ok && dir != o.Dir {
				hint = fmt.Sprintf("the lab in %s uses subnet %s: stop it with 'patchpilot lab down --dir %s', or start this one with another --subnet", dir, o.Subnet, dir)
			}
			return nil, patchpilot.Errorf(patchpilot.ECONFLICT, "%s:22 is already in use", h.Address).WithHint(hint)
		}
	}
	// From here on every side effect is recorded first, and undone on failure.
	if err := s.save(); err != nil {
		return nil, err
	}
	if err := register(s); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if derr := down(cctx, s, o.Logger, false); derr != nil {
				o.Logger.Error("cleanup after a failed start", "err", derr)
			}
		}
	}()
	client, err := newKeyPair("patchpilot-lab")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(o.Dir, keyFile), client.private, 0o600); err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINTERNAL, "write the lab key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(o.Dir, keyFile+".pub"), []byte(client.authorized+" patchpilot-lab\n"), 0o644); err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINTERNAL, "write the lab key: %w", err)
	}
	hostKeys := map[string]string{}
	for i := range s.Hosts {
		h := &s.Hosts[i]
		hk, err := newKeyPair("root@" + h.Name)
		if err != nil {
			return nil, err
		}
		hostKeys[h.Name] = hk.authorized
		if err := prepareHost(s, *h, hk, client); err != nil {
			return nil, err
		}
	}
	if err := writeClientFiles(s, hostKeys); err != nil {
		return nil, err
	}
	for i := range s.Hosts {
		if err := startHost(s, &s.Hosts[i]); err != nil {
			return nil, err
		}
	}
	o.Logger.Info("booting hosts", "hosts", o.Hosts)
	if err := waitAllReady(ctx, s, o.ReadyTimeout); err != nil {
		return nil, err
	}
	if o.Prometheus {
		if err := startPrometheus(ctx, s, o.PrometheusAddress, o.ScrapeInterval); err != nil {
			return nil, err
		}
	}
	s.Phase = phaseUp
	if err := s.save(); err != nil {
		return nil, err
	}
	o.Logger.Info("lab is up", "hosts", o.Hosts, "dir", o.Dir, "took", time.Since(start).Round(100*time.Millisecond))
	return &Lab{state: s, logger: o.Logger}, nil
}

// ensureCache builds what is missing of the base, the repository and the
// layer, and the extra layers of hosts that have extra packages (by
// host name), and the realistic profile's layers (by role), one process
// at a time.
func ensureCache(ctx context.Context, o Options) (base, repo, layer string, extras map[string]string, roles map[string][]string, err error) {
	lock, err := lockCache(ctx, o.CacheDir)
	if err != nil {
		return "", "", "", nil, nil, err
	}
	defer lock.unlock()
	removeStaleTemps(o.CacheDir)
	if base, err = ensureBase(ctx, o); err != nil {
		return "", "", "", nil, nil, err
	}
	if repo, err = ensureRepo(ctx, o); err != nil {
		return "", "", "", nil, nil, err
	}
	if layer, err = ensureLayer(ctx, o, base, repo); err != nil {
		return "", "", "", nil, nil, err
	}
	extras = map[string]string{}
	for host, pkgs := range o.HostPackages {
		if extras[host], err = ensureExtra(ctx, o, base, layer, pkgs); err != nil {
			return "", "", "", nil, nil, err
		}
	}
	if o.Profile == ProfileRealistic {
		if roles, err = ensureRealistic(ctx, o, base, layer, repo); err != nil {
			return "", "", "", nil, nil, err
		}
	}
	return base, repo, layer, extras, roles, nil
}

// waitAllReady waits for every host; a host that does not come up is named
// with the end of its console log.
func waitAllReady(ctx context.Context, s *State, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	errs := make([]error, len(s.Hosts))
	var wg sync.WaitGroup
	for i, h := range s.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := waitReady(ctx, h.Address); err != nil {
				log, _ := os.ReadFile(filepath.Join(s.hostDir(h.Name), hostLog))
				errs[i] = patchpilot.Errorf(patchpilot.ETIMEOUT, "%s did not boot: %w; console: %s", h.Name, err, tail(string(log), 800))
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Open returns the lab recorded in dir ("" means DefaultDir()).
func Open(dir string) (*Lab, error) {
	if dir == "" {
		dir = DefaultDir()
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "lab directory %q: %w", dir, err)
	}
	s, err := loadState(abs)
	if err != nil {
		return nil, err
	}
	return &Lab{state: s, logger: slog.New(slog.DiscardHandler)}, nil
}

// WithLogger sets where the lab's progress goes.
func (l *Lab) WithLogger(lg *slog.Logger) *Lab {
	if lg != nil {
		l.logger = lg
	}
	return l
}

// Dir is the lab's directory.
func (l *Lab) Dir() string { return l.state.Dir }

// InventoryFile is the Ansible inventory of the lab's hosts.
func (l *Lab) InventoryFile() string { return filepath.Join(l.state.Dir, inventoryFile) }

// KnownHostsFile holds every host's real SSH host key.
func (l *Lab) KnownHostsFile() string { return filepath.Join(l.state.Dir, knownHostsFile) }

// KeyFile is the private key that logs in as root on every host.
func (l *Lab) KeyFile() string { return filepath.Join(l.state.Dir, keyFile) }

// PrometheusURL is the Prometheus server's URL, or "" when the lab has none.
func (l *Lab) PrometheusURL() string {
	if l.state.PrometheusPID == 0 {
		return ""
	}
	return "http://" + l.state.PrometheusAddress
}

// Hosts returns the lab's hosts as patchpilot hosts.
func (l *Lab) Hosts() []patchpilot.Host {
	out := make([]patchpilot.Host, 0, len(l.state.Hosts))
	for _, h := range l.state.Hosts {
		labels := map[string]string{}
		for k, v := range h.Labels {
			labels[k] = v
		}
		out = append(out, patchpilot.Host{Name: h.Name, Address: h.Address, Port: 22, User: "root", KeyFile: l.KeyFile(),
			Groups: []string{"lab", h.Labels[patchpilot.LabelRole]}, Labels: labels, Source: l.InventoryFile()})
	}
	return out
}

// Status reports every host's state. It reads the state file and the
// processes; it changes nothing.
func (l *Lab) Status(ctx context.Context) ([]HostStatus, error) {
	if s, err := loadState(l.state.Dir); err == nil {
		l.state = s
	} else {
		return nil, err
	}
	out := make([]HostStatus, len(l.state.Hosts))
	var wg sync.WaitGroup
	for i := range l.state.Hosts {
		h := &l.state.Hosts[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := HostStatus{Name: h.Name, Address: h.Address, State: StateStopped, Labels: h.Labels, Faults: h.Faults}
			hp := findHostProcs(l.state, h)
			if hp.nspawn != 0 {
				st.PID, st.State = hp.nspawn, StateUnreachable
				if hp.leader != 0 {
					st.BootID = bootID(hp.leader)
				}
				if sshBanner(ctx, net.JoinHostPort(h.Address, "22"), 2*time.Second) {
					st.State = StateRunning
				}
			}
			out[i] = st
		}()
	}
	wg.Wait()
	return out, nil
}

// Down stops the lab and removes what it made: processes, mounts, cgroups,
// firewall rules and files. It is safe to run twice, and works from the
// state file alone after the process that started the lab was killed.
func (l *Lab) Down(ctx context.Context) error {
	return Down(ctx, l.state.Dir, l.logger)
}

// Down stops the lab in dir ("" means DefaultDir()); no lab there is not an
// error.
func Down(ctx context.Context, dir string, logger *slog.Logger) error {
	if dir == "" {
		dir = DefaultDir()
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dir, _ = filepath.Abs(dir)
	if _, err := os.Stat(filepath.Join(dir, stateFile)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	lock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer lock.unlock()
	s, err := loadState(dir)
	if patchpilot.ErrorCode(err) == patchpilot.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	return down(ctx, s, logger, false)
}

// down undoes everything the state file records, in reverse order of
// creation, and keeps going past failures so that one stuck host does not
// leave the others running. keepDir keeps the directory and its lock, for
// an Up that cleans up before it starts.
func down(ctx context.Context, s *State, logger *slog.Logger, keepDir bool) error {
	s.Phase = phaseStopping
	_ = s.save()
	var errs []error
	if err := stopPrometheus(ctx, s); err != nil {
		errs = append(errs, err)
	}
	herrs := make([]error, len(s.Hosts))
	var wg sync.WaitGroup
	for i := range s.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			herrs[i] = stopHost(ctx, s, &s.Hosts[i])
		}()
	}
	wg.Wait()
	errs = append(errs, herrs...)
	if err := removeDropRules(ctx, s, ""); err != nil {
		errs = append(errs, err)
	}
	if err := removeCgroup(filepath.Join(cgroupNamespace, s.ID)); err != nil {
		errs = append(errs, err)
	}
	if err := unmountAll(s.Dir); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		_ = s.save()
		return err
	}
	// Nothing is mounted under the directory any more (unmountAll checked),
	// so removing it cannot reach into the base or the repository.
	for _, name := range []string{hostsDir, prometheusDir, inventoryFile, knownHostsFile, keyFile, keyFile + ".pub", ansibleCfgFile, stateFile + ".tmp"} {
		if err := os.RemoveAll(filepath.Join(s.Dir, name)); err != nil {
			errs = append(errs, patchpilot.Errorf(patchpilot.EINTERNAL, "remove %s: %w", name, err))
		}
	}
	if err := os.Remove(filepath.Join(s.Dir, stateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	unregister(s)
	if !keepDir {
		_ = os.Remove(filepath.Join(s.Dir, lockFile))
		_ = os.Remove(s.Dir) // only when empty
	}
	logger.Info("lab is down", "dir", s.Dir, "hosts", len(s.Hosts))
	return errors.Join(errs...)
}

// names lists hosts for messages.
func names(hs []HostState) string {
	n := make([]string, len(hs))
	for i, h := range hs {
		n[i] = h.Name
	}
	return strings.Join(n, ", ")
}
