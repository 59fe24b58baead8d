package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/lab/labowner"
	"github.com/patchpilot/patchpilot/internal/lab/labtest"
)

// The end-to-end tests share one lab, started on first use and stopped by
// TestMain. They use their own subnets so that a lab someone runs by hand,
// or another package's tests, can run beside them.
const (
	testSubnet      = "127.0.31"
	testStaleSubnet = "127.0.32"
	testPrometheus  = "127.0.31.254:9090"
	testHosts       = 3
)

var shared struct {
	once    sync.Once
	lab     *Lab
	dir     string
	err     error
	release func() // the machine-wide lab lock, held while the lab is up
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		if err := Down(context.Background(), shared.dir, nil); err != nil {
			fmt.Fprintln(os.Stderr, "lab down:", err)
			code = 1
		}
		// Never remove a directory that still has mounts in it.
		if len(mountsUnder(shared.dir)) == 0 {
			os.RemoveAll(shared.dir)
		}
	}
	if shared.release != nil {
		shared.release()
	}
	os.Exit(code)
}

// canRunLab skips the test under -short and where a lab cannot run, except
// in CI, where the lab must run.
func canRunLab(t *testing.T) {
	t.Helper()
	labtest.Require(t, func() error { return CheckHost(true) })
}

// sharedLab starts the shared lab once, under the machine-wide lab lock.
func sharedLab(t *testing.T) *Lab {
	t.Helper()
	canRunLab(t)
	shared.once.Do(func() {
		if shared.release, shared.err = labtest.LockShared(t); shared.err != nil {
			return
		}
		shared.dir, shared.err = os.MkdirTemp("", "pp-lab-test-")
		if shared.err != nil {
			return
		}
		lg := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		shared.lab, shared.err = Up(ctx, Options{Dir: shared.dir, Hosts: testHosts, Subnet: testSubnet,
			Prometheus: true, PrometheusAddress: testPrometheus, Logger: lg})
	})
	if shared.err != nil {
		t.Fatalf("lab up: %v", shared.err)
	}
	if shared.lab == nil {
		t.Skip("the shared lab was stopped by an earlier test")
	}
	return shared.lab
}

// sshClient logs in as root with the lab's key, checking the host key
// against the lab's known_hosts.
func sshClient(l *Lab, addr string) (*ssh.Client, error) {
	cb, err := knownhosts.New(l.KnownHostsFile())
	if err != nil {
		return nil, err
	}
	key, err := os.ReadFile(l.KeyFile())
	if err != nil {
		return nil, err
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: cb, Timeout: 5 * time.Second}
	return ssh.Dial("tcp", net.JoinHostPort(addr, "22"), cfg)
}

// sshRun runs a shell command on a host and returns its output and status.
func sshRun(t *testing.T, l *Lab, addr, cmd string) (string, int) {
	t.Helper()
	c, err := sshClient(l, addr)
	if err != nil {
		t.Fatalf("ssh %s: %v", addr, err)
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatalf("ssh %s: %v", addr, err)
	}
	defer sess.Close()
	var out lockedBuffer
	sess.Stdout, sess.Stderr = &out, &out
	err = sess.Run(cmd)
	var exit *ssh.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &exit):
		return out.String(), exit.ExitStatus()
	}
	t.Fatalf("ssh %s %q: %v", addr, cmd, err)
	return "", -1
}

// lockedBuffer collects stdout and stderr, which the SSH session copies
// from two goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func hostByName(t *testing.T, l *Lab, name string) patchpilot.Host {
	t.Helper()
	for _, h := range l.Hosts() {
		if h.Name == name {
			return h
		}
	}
	t.Fatalf("no host %s", name)
	return patchpilot.Host{}
}

func TestLabHostsAndUpdates(t *testing.T) {
	l := sharedLab(t)
	st, err := l.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != testHosts {
		t.Fatalf("got %d hosts, want %d", len(st), testHosts)
	}
	ids := map[string]bool{}
	for _, h := range st {
		if h.State != StateRunning || h.BootID == "" || h.PID == 0 {
			t.Errorf("%s: got state %q boot id %q pid %d, want running with a boot id and pid", h.Name, h.State, h.BootID, h.PID)
		}
		out, code := sshRun(t, l, h.Address, "hostname; cat /etc/machine-id /proc/sys/kernel/random/boot_id; dpkg-query -W -f '${Version}' pp-demo-web")
		f := strings.Fields(out)
		if code != 0 || len(f) != 4 {
			t.Fatalf("%s: got %q (status %d)", h.Name, out, code)
		}
		if f[0] != h.Name || f[2] != h.BootID || f[3] != "1.0.0" {
			t.Errorf("%s: got hostname %s boot id %s pp-demo-web %s, want %s %s 1.0.0", h.Name, f[0], f[2], f[3], h.Name, h.BootID)
		}
		if ids[f[1]] {
			t.Errorf("%s: machine id %s is not unique", h.Name, f[1])
		}
		ids[f[1]] = true

		out, code = sshRun(t, l, h.Address, "apt-get -s dist-upgrade")
		for _, want := range []string{"Remv pp-agent-legacy [1.0.0]", "Inst pp-agent [1.0.0] (2.0.0", "Inst pp-demo-web [1.0.0] (1.1.4",
			"Inst pp-libdemo [1.0.0] (1.1.0", "Inst pp-libdemo-tools [1.0.0] (1.1.0", "Inst pp-kernel-demo [1.0.0] (1.1.0"} {
			if code != 0 || !strings.Contains(out, want) {
				t.Errorf("%s: apt-get -s dist-upgrade (status %d) lacks %q:\n%s", h.Name, code, want, out)
			}
		}
		if code, body := httpGet(t, fmt.Sprintf("http://%s:%d/health", h.Address, DemoWebPort)); code != 200 {
			t.Errorf("%s: /health: got %d %q, want 200", h.Name, code, body)
		}
		_, body := httpGet(t, fmt.Sprintf("http://%s:%d/metrics", h.Address, DemoWebPort))
		for _, want := range []string{"pp_demo_requests_total ", "pp_demo_errors_total ", "pp_demo_request_duration_seconds_bucket{le=\"+Inf\"}", `version="1.0.0"`} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: demo /metrics lacks %q", h.Name, want)
			}
		}
		if _, body := httpGet(t, fmt.Sprintf("http://%s:%d/metrics", h.Address, NodeExporterPort)); !strings.Contains(body, "node_boot_time_seconds") {
			t.Errorf("%s: node_exporter /metrics lacks node_boot_time_seconds", h.Name)
		}
	}
}

func TestLabHostKeysAreStrict(t *testing.T) {
	l := sharedLab(t)
	hosts := l.Hosts()
	// A known_hosts that gives lab01's address lab02's key must be refused.
	b, err := os.ReadFile(l.KnownHostsFile())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != len(hosts) {
		t.Fatalf("known_hosts has %d lines, want %d", len(lines), len(hosts))
	}
	key2 := strings.SplitN(lines[1], " ", 2)[1]
	if key1 := strings.SplitN(lines[0], " ", 2)[1]; key1 == key2 {
		t.Fatal("lab01 and lab02 share a host key")
	}
	bad := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(bad, []byte(hosts[0].Address+" "+key2+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cb, _ := knownhosts.New(bad)
	key, _ := os.ReadFile(l.KeyFile())
	signer, _ := ssh.ParsePrivateKey(key)
	_, err = ssh.Dial("tcp", net.JoinHostPort(hosts[0].Address, "22"), &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: cb, Timeout: 5 * time.Second})
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) {
		t.Fatalf("dial with a wrong host key: got %v, want a knownhosts.KeyError", err)
	}
	inv, _ := os.ReadFile(l.InventoryFile())
	for _, want := range []string{"lab01 ansible_host=" + testSubnet + ".1 ", "ansible_user=root", "ansible_ssh_private_key_file=" + l.KeyFile(),
		"criticality=critical", "role=web", "role=worker", "role=db", "env=lab", "ansible_python_interpreter=/usr/bin/python3", "UserKnownHostsFile=" + l.KnownHostsFile()} {
		if !strings.Contains(string(inv), want) {
			t.Errorf("inventory.ini lacks %q", want)
		}
	}
}

func TestLabPrometheus(t *testing.T) {
	l := sharedLab(t)
	if l.PrometheusURL() == "" {
		t.Fatal("no Prometheus URL")
	}
	// Every target is scraped within a few scrape intervals; on a busy
	// machine a query may be slow, so a failed one is tried again.
	want := fmt.Sprintf(`"%d"]`, 2*testHosts)
	labtest.WaitFor(t, "every target up", 2*time.Minute, time.Second, func(ctx context.Context) (bool, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.PrometheusURL()+"/api/v1/query?query=sum(up)", nil)
		if err != nil {
			return false, err.Error()
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(string(b), want), fmt.Sprintf("sum(up): got %s, want %d targets up", b, 2*testHosts)
	})
}

func TestLabFaults(t *testing.T) {
	l := sharedLab(t)
	ctx := context.Background()
	h := hostByName(t, l, "lab02")
	ssh22 := net.JoinHostPort(h.Address, "22")
	tests := []struct {
		kind     string
		check    func(t *testing.T) // the fault has its effect
		healthy  func(t *testing.T) // and heal removes it
		mutating bool
	}{
		{FaultSSHDown, func(t *testing.T) {
			if _, err := net.DialTimeout("tcp", ssh22, time.Second); err == nil {
				t.Error("sshd answers")
			}
		}, nil, false},
		{FaultNetDrop, func(t *testing.T) {
			_, err := net.DialTimeout("tcp", ssh22, time.Second)
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("dial: got %v, want a timeout (packets dropped)", err)
			}
		}, nil, false},
		{FaultDpkgLock, func(t *testing.T) {
			out, code := sshRun(t, l, h.Address, "apt-get install -y pp-agent-legacy")
			if code == 0 || !strings.Contains(out, "Could not get lock /var/lib/dpkg/lock-frontend") {
				t.Errorf("apt-get install: got status %d %q, want the lock error", code, out)
			}
		}, func(t *testing.T) {
			if out, code := sshRun(t, l, h.Address, "apt-get install -y pp-agent-legacy"); code != 0 {
				t.Errorf("apt-get install after heal: status %d: %s", code, out)
			}
		}, false},
		{FaultRepoDown, func(t *testing.T) {
			out, code := sshRun(t, l, h.Address, "apt-get update")
			if code == 0 || !strings.Contains(out, "File not found - /srv/pp-repo/./Packages") {
				t.Errorf("apt-get update: got status %d %q, want a fetch failure", code, out)
			}
		}, func(t *testing.T) {
			if out, code := sshRun(t, l, h.Address, "apt-get update"); code != 0 {
				t.Errorf("apt-get update after heal: status %d: %s", code, out)
			}
		}, false},
		{FaultDiskFull, func(t *testing.T) {
			out, code := sshRun(t, l, h.Address, "apt-get install -y pp-libdemo=1.1.0")
			if code == 0 || !strings.Contains(out, "No space left on device") {
				t.Errorf("apt-get install: got status %d %q, want ENOSPC", code, out)
			}
		}, func(t *testing.T) {
			out, code := sshRun(t, l, h.Address, "apt-get install -y pp-libdemo=1.1.0 && dpkg-query -W -f '${Version}' pp-libdemo && dpkg --audit")
			if code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "1.1.0") {
				t.Errorf("apt-get install after heal: status %d: %s", code, out)
			}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			if err := l.Fault(ctx, h.Name, tt.kind); err != nil {
				t.Fatal(err)
			}
			st, _ := l.Status(ctx)
			if got := st[1].Faults; len(got) != 1 || got[0] != tt.kind {
				t.Errorf("status faults: got %v, want [%s]", got, tt.kind)
			}
			tt.check(t)
			if err := l.Heal(ctx, h.Name); err != nil {
				t.Fatal(err)
			}
			if _, code := sshRun(t, l, h.Address, "true"); code != 0 {
				t.Errorf("ssh after heal: status %d", code)
			}
			if tt.healthy != nil {
				tt.healthy(t)
			}
		})
	}
	if err := l.Fault(ctx, h.Name, "meteor-strike"); patchpilot.ErrorCode(err) != patchpilot.EINVALID {
		t.Errorf("unknown fault: got %v, want EINVALID", err)
	}
	if err := l.Fault(ctx, "lab99", FaultSSHDown); patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND {
		t.Errorf("unknown host: got %v, want ENOTFOUND", err)
	}
}

// waitBootChange waits until a host runs with a boot id other than old.
func waitBootChange(t *testing.T, l *Lab, name, old string) HostStatus {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		st, err := l.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range st {
			if h.Name == name && h.State == StateRunning && h.BootID != "" && h.BootID != old {
				return h
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not come back with a new boot id: %+v", name, st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestLabRebootFromInside(t *testing.T) {
	l := sharedLab(t)
	h := hostByName(t, l, "lab01")
	out, code := sshRun(t, l, h.Address, "apt-get install -y pp-kernel-demo=1.1.0 >/dev/null 2>&1 && cat /var/run/reboot-required.pkgs /proc/sys/kernel/random/boot_id")
	f := strings.Fields(out)
	if code != 0 || len(f) != 2 || f[0] != "pp-kernel-demo" {
		t.Fatalf("install pp-kernel-demo 1.1.0: status %d: %q", code, out)
	}
	old := f[1]
	// The connection may end before the command returns.
	if c, err := sshClient(l, h.Address); err == nil {
		if s, err := c.NewSession(); err == nil {
			_ = s.Start("systemctl reboot")
		}
		defer c.Close()
	}
	st := waitBootChange(t, l, h.Name, old)
	out, _ = sshRun(t, l, h.Address, "cat /proc/sys/kernel/random/boot_id; test -e /var/run/reboot-required && echo still-required; dpkg-query -W -f '${Version}' pp-kernel-demo")
	if f := strings.Fields(out); len(f) != 2 || f[0] != st.BootID || f[1] != "1.1.0" {
		t.Errorf("after reboot: got %q, want the new boot id %s and pp-kernel-demo 1.1.0 with no reboot-required", out, st.BootID)
	}
}

func TestLabNoReturnReboot(t *testing.T) {
	l := sharedLab(t)
	ctx := context.Background()
	h := hostByName(t, l, "lab03")
	st, _ := l.Status(ctx)
	old := st[2].BootID
	if err := l.Fault(ctx, h.Name, FaultNoReturn); err != nil {
		t.Fatal(err)
	}
	if err := l.Reboot(ctx, h.Name); err != nil {
		t.Fatal(err)
	}
	st, _ = l.Status(ctx)
	if st[2].State != StateStopped {
		t.Fatalf("after a no-return reboot: got %s, want stopped", st[2].State)
	}
	if err := l.Heal(ctx, h.Name); err != nil {
		t.Fatal(err)
	}
	waitBootChange(t, l, h.Name, old)
	// Reboot through the API with no fault: back with a new boot id.
	st, _ = l.Status(ctx)
	old = st[2].BootID
	if err := l.Reboot(ctx, h.Name); err != nil {
		t.Fatal(err)
	}
	waitBootChange(t, l, h.Name, old)
}

// leftovers lists what a stopped lab must not leave behind.
func leftovers(t *testing.T, dir, subnet, id string, hosts int, pids []int) []string {
	t.Helper()
	var out []string
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if dir != "" && strings.Contains(string(mounts), dir) {
		out = append(out, "a mount under "+dir)
	}
	for _, p := range pids {
		if alive(p) {
			out = append(out, fmt.Sprintf("process %d", p))
		}
	}
	for i := 1; i <= hosts; i++ {
		for _, port := range []string{"22", "8080", "9100"} {
			if c, err := net.DialTimeout("tcp", net.JoinHostPort(fmt.Sprintf("%s.%d", subnet, i), port), 300*time.Millisecond); err == nil {
				c.Close()
				out = append(out, fmt.Sprintf("a listener on %s.%d:%s", subnet, i, port))
			}
		}
	}
	if b, err := exec.Command("nft", "-j", "list", "table", nftFamily, nftTable).CombinedOutput(); err == nil && strings.Contains(string(b), id) {
		out = append(out, "an nft rule of the lab")
	}
	for _, h := range cgroupHierarchies() {
		if _, err := os.Stat(filepath.Join(h, cgroupNamespace, id)); err == nil {
			out = append(out, "cgroup "+filepath.Join(h, cgroupNamespace, id))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); dir != "" && err == nil {
		out = append(out, "the state file")
	}
	return out
}

func TestLabUpCleansUpAfterAKilledController(t *testing.T) {
	canRunLab(t)
	labtest.Lock(t)
	ctx := context.Background()
	dir := t.TempDir()
	// Runs before the directory is removed, should the test stop half-way.
	t.Cleanup(func() { _ = Down(context.Background(), dir, nil) })
	o := Options{Dir: dir, Hosts: 1, Subnet: testStaleSubnet}
	l, err := Up(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := l.Status(ctx)
	oldPID, oldID := st[0].PID, l.state.ID
	// As if the controller died: a fault left in place, nothing stopped.
	if err := l.Fault(ctx, "lab01", FaultNetDrop); err != nil {
		t.Fatal(err)
	}
	l2, err := Up(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if alive(oldPID) {
		t.Errorf("the first lab's systemd-nspawn (pid %d) survived", oldPID)
	}
	st, _ = l2.Status(ctx)
	if st[0].State != StateRunning || st[0].PID == oldPID {
		t.Errorf("second lab: got %+v, want a new running host", st[0])
	}
	// The directory is the second lab's now: only the first lab's own
	// processes, rules and cgroups must be gone.
	if left := leftovers(t, "", testStaleSubnet, oldID, 0, []int{oldPID}); len(left) > 0 {
		t.Errorf("the first lab left %v", left)
	}
	pids := []int{st[0].PID, l2.state.Hosts[0].SupervisorPID}
	if err := l2.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if left := leftovers(t, dir, testStaleSubnet, l2.state.ID, 1, pids); len(left) > 0 {
		t.Errorf("down left %v", left)
	}
}

// A lab whose owner has exited (a test binary killed by its -timeout) is
// taken down by the next lab started on the machine; while its owner
// lives, a lab on its subnet is refused with a hint that names it.
func TestLabUpTakesDownALabWhoseOwnerExited(t *testing.T) {
	canRunLab(t)
	labtest.Lock(t)
	ctx := context.Background()
	dirA, dirB := t.TempDir(), t.TempDir()
	t.Cleanup(func() {
		_ = Down(context.Background(), dirB, nil)
		_ = Down(context.Background(), dirA, nil)
	})
	owner := exec.Command("sleep", "600")
	if err := owner.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = owner.Process.Kill(); _ = owner.Wait() })
	own, err := labowner.Of(owner.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Up(ctx, Options{Dir: dirA, Hosts: 1, Subnet: testStaleSubnet, Owner: own})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := a.Status(ctx)
	oldPID, oldID := st[0].PID, a.state.ID

	_, err = Up(ctx, Options{Dir: dirB, Hosts: 1, Subnet: testStaleSubnet})
	if patchpilot.ErrorCode(err) != patchpilot.ECONFLICT || !strings.Contains(patchpilot.ErrorHint(err), dirA) {
		t.Fatalf("a lab on the subnet of a lab whose owner lives: got %v (hint %q), want ECONFLICT naming %s", err, patchpilot.ErrorHint(err), dirA)
	}
	if !alive(oldPID) {
		t.Fatal("the refused start took the first lab down")
	}

	_ = owner.Process.Kill()
	_ = owner.Wait()
	b, err := Up(ctx, Options{Dir: dirB, Hosts: 1, Subnet: testStaleSubnet})
	if err != nil {
		t.Fatalf("a lab on the subnet of a lab whose owner exited: %v", err)
	}
	if alive(oldPID) {
		t.Errorf("the abandoned lab's systemd-nspawn (pid %d) survived", oldPID)
	}
	if _, err := Open(dirA); patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND {
		t.Errorf("the abandoned lab's state: got %v, want it gone", err)
	}
	if left := leftovers(t, "", testStaleSubnet, oldID, 0, []int{oldPID}); len(left) > 0 {
		t.Errorf("the abandoned lab left %v", left)
	}
	if d, ok := registered(testStaleSubnet); !ok || d != dirB {
		t.Errorf("the registry names %q for %s, want %s", d, testStaleSubnet, dirB)
	}
	if err := b.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if d, ok := registered(testStaleSubnet); ok {
		t.Errorf("after down the registry still names %s for %s", d, testStaleSubnet)
	}
}

// TestLabDown runs last: it stops the shared lab.
func TestLabDown(t *testing.T) {
	l := sharedLab(t)
	ctx := context.Background()
	if err := l.Fault(ctx, "lab02", FaultNetDrop); err != nil { // down must remove it
		t.Fatal(err)
	}
	if err := l.Fault(ctx, "lab01", FaultDiskFull); err != nil {
		t.Fatal(err)
	}
	st, _ := l.Status(ctx)
	var pids []int
	for i, h := range st {
		pids = append(pids, h.PID, l.state.Hosts[i].SupervisorPID)
	}
	pids = append(pids, l.state.PrometheusPID)
	id := l.state.ID
	if err := l.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if left := leftovers(t, l.Dir(), testSubnet, id, testHosts, pids); len(left) > 0 {
		t.Errorf("down left %v", left)
	}
	if c, err := net.DialTimeout("tcp", testPrometheus, 300*time.Millisecond); err == nil {
		c.Close()
		t.Error("Prometheus still listens")
	}
	if err := l.Down(ctx); err != nil {
		t.Errorf("second down: %v", err)
	}
	if _, err := Open(l.Dir()); patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND {
		t.Errorf("open after down: got %v, want ENOTFOUND", err)
	}
	shared.lab = nil
}
