package collect

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/ssh"
	"github.com/patchpilot/patchpilot/internal/ssh/sshtest"
)

// inflightDialer wraps a real dialer and records how many hosts are
// connected at once, from Dial to Close.
type inflightDialer struct {
	d        patchpilot.Dialer
	mu       sync.Mutex
	now, max int
}

func (d *inflightDialer) Dial(ctx context.Context, h patchpilot.Host) (patchpilot.Runner, error) {
	d.mu.Lock()
	d.now++
	d.max = max(d.max, d.now)
	d.mu.Unlock()
	r, err := d.d.Dial(ctx, h)
	if err != nil {
		d.done()
		return nil, err
	}
	return &inflightRunner{Runner: r, done: d.done}, nil
}

func (d *inflightDialer) done() {
	d.mu.Lock()
	d.now--
	d.mu.Unlock()
}

type inflightRunner struct {
	patchpilot.Runner
	done func()
	once sync.Once
}

func (r *inflightRunner) Close() error {
	err := r.Runner.Close()
	r.once.Do(r.done)
	return err
}

// TestFleetOverSSHHonoursConcurrency collects eight "hosts" (eight
// loopback addresses of one real sshd) with a concurrency of three, over
// the real SSH runner.
func TestFleetOverSSHHonoursConcurrency(t *testing.T) {
	var addrs []string
	for i := 71; i <= 78; i++ {
		addrs = append(addrs, fmt.Sprintf("127.0.0.%d", i))
	}
	srv := sshtest.Start(t, sshtest.ListenAddrs(addrs...))
	sd, err := ssh.NewDialer(ssh.Options{HomeDir: t.TempDir(), KnownHostsFile: srv.KnownHostsFile, User: srv.User,
		KeyFiles: []string{srv.ClientKeyFile}})
	if err != nil {
		t.Fatal(err)
	}
	var hosts []patchpilot.Host
	for i, a := range addrs {
		hosts = append(hosts, patchpilot.Host{Name: fmt.Sprintf("h%d", i), Address: a, Port: srv.Port})
	}
	d := &inflightDialer{d: sd}
	results := Fleet(context.Background(), d, hosts, FleetOptions{Concurrency: 3}, nil)
	dpkg, err := exec.Command("dpkg-query", "-W").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Count(string(dpkg), "\n")
	for _, r := range results {
		if r.Err != nil {
			t.Fatalf("%s: %v", r.Host.Name, r.Err)
		}
		if got := len(r.Facts.Packages); got != want {
			t.Errorf("%s: %d packages, want %d", r.Host.Name, got, want)
		}
	}
	if d.max != 3 {
		t.Errorf("at most %d hosts were connected at once, want exactly the bound 3", d.max)
	}
	if d.now != 0 {
		t.Errorf("%d connections left open after the fleet finished", d.now)
	}
}
