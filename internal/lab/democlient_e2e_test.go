package lab

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot/internal/lab/labtest"
)

// establishedTo lists, as ss prints them, the established connections a
// host's own processes have to addr:port.
func establishedTo(t *testing.T, l *Lab, host, addr string, port int) string {
	t.Helper()
	out, err := l.Exec(context.Background(), host, "ss", "-H", "-t", "-n", "-p", "state", "established", "dst", fmt.Sprintf("%s:%d", addr, port))
	if err != nil {
		t.Fatalf("ss on %s: %v", host, err)
	}
	// Every host sees the machine's sockets; only its own have a process.
	var mine []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.Contains(line, "users:(") {
			mine = append(mine, line)
		}
	}
	return strings.Join(mine, "\n")
}

// TestLabDemoClient points lab01's pp-demo-client at lab02's pp-demo-web
// and checks the connection from lab01's address in ss, owned by the
// client, on both ends; that the client reconnects when the backend comes
// back; and that stopping it closes the connection.
func TestLabDemoClient(t *testing.T) {
	l := sharedLab(t)
	ctx := context.Background()
	c, b := hostByName(t, l, "lab01"), hostByName(t, l, "lab02")
	if out, _ := l.Exec(ctx, c.Name, "systemctl", "show", "-P", "ActiveState", DemoClientUnit); strings.TrimSpace(string(out)) != "inactive" {
		t.Errorf("%s before a backend is named: %q, want inactive (its condition keeps it idle, never failed)", DemoClientUnit, out)
	}
	if out, _ := l.Exec(ctx, c.Name, "dpkg-query", "-S", "/usr/bin/pp-demo-client"); !strings.HasPrefix(string(out), "pp-demo-client: ") {
		t.Errorf("/usr/bin/pp-demo-client belongs to %q, want pp-demo-client", out)
	}
	if err := l.StartDemoClient(ctx, c.Name, b.Name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.StopDemoClient(context.Background(), c.Name); err != nil {
			t.Error(err)
		}
		_, _ = l.Exec(context.Background(), b.Name, "systemctl", "start", "pp-demo-web.service")
	})
	connected := func(ctx context.Context) (bool, string) {
		got := establishedTo(t, l, c.Name, b.Address, DemoWebPort)
		return strings.Contains(got, `users:(("pp-demo-client",`) && strings.Contains(got, c.Address+":"), "ss on lab01: " + got
	}
	labtest.WaitFor(t, "lab01's client connected to lab02:8080", time.Minute, 200*time.Millisecond, connected)
	got := establishedTo(t, l, c.Name, b.Address, DemoWebPort)
	if n := strings.Count(got, "\n") + 1; n != 1 {
		t.Errorf("lab01 keeps %d connections to lab02:8080, want one kept alive:\n%s", n, got)
	}
	// The server's end, seen from lab02, belongs to pp-demo-web.
	out, err := l.Exec(ctx, b.Name, "ss", "-H", "-t", "-n", "-p", "state", "established", "src", fmt.Sprintf("%s:%d", b.Address, DemoWebPort), "dst", c.Address)
	if err != nil || !strings.Contains(string(out), `users:(("pp-demo-web",`) {
		t.Errorf("lab02's end of the connection (%v):\n%s\nwant it owned by pp-demo-web", err, out)
	}

	// The backend goes away and comes back: the client reconnects.
	if _, err := l.Exec(ctx, b.Name, "systemctl", "stop", "pp-demo-web.service"); err != nil {
		t.Fatal(err)
	}
	labtest.WaitFor(t, "the client's connection to the stopped backend closed", time.Minute, 200*time.Millisecond, func(context.Context) (bool, string) {
		got := establishedTo(t, l, c.Name, b.Address, DemoWebPort)
		return got == "", got
	})
	journal := func() string {
		out, _ := l.Exec(context.Background(), c.Name, "journalctl", "-q", "-u", DemoClientUnit, "--no-pager", "-o", "cat")
		return string(out)
	}
	labtest.WaitFor(t, "the client found the backend gone", time.Minute, 200*time.Millisecond, func(context.Context) (bool, string) {
		j := journal()
		return strings.Contains(j, "does not answer"), j
	})
	if _, err := l.Exec(ctx, b.Name, "systemctl", "start", "pp-demo-web.service"); err != nil {
		t.Fatal(err)
	}
	labtest.WaitFor(t, "the client reconnected to the restarted backend", time.Minute, 200*time.Millisecond, connected)
	if j := journal(); strings.Count(j, " answers\n") < 2 {
		t.Errorf("the client's journal does not tell the backend came back:\n%s", j)
	}

	if err := l.StopDemoClient(ctx, c.Name); err != nil {
		t.Fatal(err)
	}
	labtest.WaitFor(t, "the connection closed after the client stopped", time.Minute, 200*time.Millisecond, func(context.Context) (bool, string) {
		got := establishedTo(t, l, c.Name, b.Address, DemoWebPort)
		return got == "", got
	})
}

// TestLabDemoWebConffile changes pp-demo-web's conffile by hand, checks
// that dpkg --verify reports it, that an update to 1.1.0 (whose default
// changed) keeps the change and leaves the new file beside it, and puts the
// host back as it was.
func TestLabDemoWebConffile(t *testing.T) {
	l := sharedLab(t)
	ctx := context.Background()
	const host = "lab03"
	sh := func(script string) string {
		t.Helper()
		out, err := l.Exec(ctx, host, "/bin/sh", "-c", script)
		if err != nil {
			t.Fatalf("%s: %v", script, err)
		}
		return string(out)
	}
	if out := sh("dpkg --verify pp-demo-web; echo rc=$?"); strings.TrimSpace(out) != "rc=0" {
		t.Fatalf("dpkg --verify of an untouched pp-demo-web: %q, want nothing", out)
	}
	sh("echo 'load = 20 # changed by hand' >> " + DemoWebConfigFile)
	t.Cleanup(func() {
		sh("apt-get install -y -q --allow-downgrades -o Dpkg::Options::=--force-confnew pp-demo-web=1.0.0 >/dev/null && rm -f " + DemoWebConfigFile + ".dpkg-*")
		if out := sh("dpkg --verify pp-demo-web; dpkg-query -W -f '${Version}' pp-demo-web"); out != "1.0.0" {
			t.Errorf("%s is not back at pp-demo-web 1.0.0 as shipped: %q", host, out)
		}
	})
	if out := sh("dpkg --verify pp-demo-web || true"); strings.TrimSpace(out) != "??5?????? c "+DemoWebConfigFile {
		t.Errorf("dpkg --verify after the change: %q, want the conffile's checksum flagged", out)
	}
	sh("apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold pp-demo-web=1.1.0 >/dev/null")
	conf := sh("cat " + DemoWebConfigFile + "; ls " + DemoWebConfigFile + ".dpkg-dist")
	if !strings.Contains(conf, "changed by hand") || !strings.Contains(conf, "idle_timeout = 5m") || !strings.Contains(conf, ".dpkg-dist") {
		t.Errorf("after the update the local configuration must stay and the new one sit beside it:\n%s", conf)
	}
	if out := sh("systemctl is-active pp-demo-web.service || true"); strings.TrimSpace(out) != "active" {
		t.Errorf("pp-demo-web 1.1.0 with the kept configuration: %q, want active", out)
	}
}
