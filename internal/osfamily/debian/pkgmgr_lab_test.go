package debian_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/lab"
	"github.com/patchpilot/patchpilot/internal/lab/labtest"
	"github.com/patchpilot/patchpilot/internal/osfamily/debian"
	"github.com/patchpilot/patchpilot/internal/ssh"
)

// This package's lab: its own subnet and Prometheus port, so that it can
// run beside other packages' labs.
const (
	labSubnet     = "127.0.4"
	labPrometheus = "127.0.0.1:9194"
)

// upLab boots a two-host lab for this test under the machine-wide lab
// lock, or skips under -short and when the machine cannot (not root),
// except under CI where that is a failure.
func upLab(t *testing.T) (*lab.Lab, *ssh.Dialer) {
	t.Helper()
	labtest.Require(t, nil)
	labtest.Lock(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "lab")
	l, err := lab.Up(ctx, lab.Options{Dir: dir, Hosts: 2, Subnet: labSubnet, PrometheusAddress: labPrometheus})
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := l.Down(ctx); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	d, err := ssh.NewDialer(ssh.Options{KnownHostsFile: l.KnownHostsFile(), KeyFiles: []string{l.KeyFile()}})
	if err != nil {
		t.Fatal(err)
	}
	return l, d
}

func dial(t *testing.T, d *ssh.Dialer, h patchpilot.Host) patchpilot.Runner {
	t.Helper()
	r, err := d.Dial(context.Background(), h)
	if err != nil {
		t.Fatalf("dial %s: %v", h.Name, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// sh runs a shell line on a host, for the test's own checks.
func sh(t *testing.T, r patchpilot.Runner, line string) string {
	t.Helper()
	res, err := r.Run(context.Background(), patchpilot.Command{Args: []string{"/bin/sh", "-c", line}})
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return string(res.Stdout)
}

func pins(s ...string) []patchpilot.PackagePin {
	var out []patchpilot.PackagePin
	for _, p := range s {
		n, v, _ := strings.Cut(p, "=")
		out = append(out, patchpilot.PackagePin{Name: n, Version: v})
	}
	return out
}

func TestPackageManagerLab(t *testing.T) {
	l, d := upLab(t)
	hosts := l.Hosts()
	ctx := context.Background()
	pm := &debian.PackageManager{}
	pm.Jobs.PollInterval = 200 * time.Millisecond
	r1, r2 := dial(t, d, hosts[0]), dial(t, d, hosts[1])
	popts := patchpilot.PreflightOptions{LockWait: 2 * time.Second, MinFreeBytes: 10 << 20}
	aopts := func(unit string) patchpilot.ApplyOptions {
		return patchpilot.ApplyOptions{Timeout: 2 * time.Minute, LockWait: 10 * time.Second, Unit: unit}
	}

	t.Run("installed", func(t *testing.T) {
		got, err := pm.Installed(ctx, r1, []string{"pp-demo-web", "pp-agent", "pp-no-such-package"})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"pp-demo-web": "1.0.0", "pp-agent": "1.0.0", "pp-no-such-package": ""}
		if !mapsEqual(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
		if _, err := pm.Installed(ctx, r1, []string{"-oops"}); patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			t.Errorf("bad name: got %v, want EINVALID", err)
		}
	})

	t.Run("preflight", func(t *testing.T) {
		rep, err := pm.Preflight(ctx, r2, pins("pp-demo-web=1.1.0"), popts)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Problems) != 0 || len(rep.Removals) != 0 || rep.RebootRequired || rep.FreeBytes < 10<<20 {
			t.Errorf("pp-demo-web=1.1.0: got %+v, want no problems", rep)
		}
		if want := []patchpilot.PackageChange{{Name: "pp-demo-web", From: "1.0.0", To: "1.1.0"}}; !slices.Equal(rep.Changes, want) {
			t.Errorf("changes: got %v, want %v", rep.Changes, want)
		}

		rep, err = pm.Preflight(ctx, r2, pins("pp-agent=2.0.0"), popts)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rep.Removals, []string{"pp-agent-legacy"}) || len(rep.Problems) != 1 {
			t.Errorf("pp-agent=2.0.0: got removals %v problems %v, want pp-agent-legacy and one problem", rep.Removals, rep.Problems)
		}

		rep, err = pm.Preflight(ctx, r2, pins("pp-libdemo-tools=1.1.0", "pp-demo-web=9.9.9", "pp-kernel-demo=1.1.0"), popts)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rep.Unavailable, []string{"pp-demo-web=9.9.9"}) {
			t.Errorf("unavailable: got %v, want pp-demo-web=9.9.9", rep.Unavailable)
		}
		// The dependency comes with its tool, and the kernel-like
		// package is known to need a reboot.
		wantNames := []string{"pp-kernel-demo", "pp-libdemo", "pp-libdemo-tools"}
		var gotNames []string
		for _, c := range rep.Changes {
			gotNames = append(gotNames, c.Name)
		}
		slices.Sort(gotNames)
		if !slices.Equal(gotNames, wantNames) || !rep.RebootRequired {
			t.Errorf("changes %v reboot %v, want %v and a reboot", gotNames, rep.RebootRequired, wantNames)
		}

		if err := l.Fault(ctx, hosts[1].Name, "dpkg-lock"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		rep, err = pm.Preflight(ctx, r2, pins("pp-demo-web=1.1.0"), popts)
		waited := time.Since(start)
		if herr := l.Heal(ctx, hosts[1].Name); herr != nil {
			t.Fatal(herr)
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "lock") || waited < popts.LockWait {
			t.Errorf("lock held: got problems %v after %s, want a lock problem after at least %s", rep.Problems, waited, popts.LockWait)
		}
	})

	var snap patchpilot.PackageSnapshot
	t.Run("snapshot", func(t *testing.T) {
		plan, err := pm.Preflight(ctx, r1, pins("pp-demo-web=1.1.0"), popts)
		if err != nil {
			t.Fatal(err)
		}
		snap, err = pm.Snapshot(ctx, r1, plan)
		if err != nil {
			t.Fatal(err)
		}
		file := snap.Artifacts["pp-demo-web"]
		if snap.Versions["pp-demo-web"] != "1.0.0" || len(snap.Missing) != 0 || file == "" {
			t.Fatalf("got %+v, want pp-demo-web 1.0.0 with an artifact", snap)
		}
		if got := sh(t, r1, "dpkg-deb -f "+file+" Version"); strings.TrimSpace(got) != "1.0.0" {
			t.Errorf("artifact %s has version %q, want 1.0.0", file, got)
		}
		// Snapshots are idempotent: the kept file is reused.
		again, err := pm.Snapshot(ctx, r1, plan)
		if err != nil || again.Artifacts["pp-demo-web"] != file {
			t.Errorf("second snapshot: got %+v, %v; want the same artifact", again, err)
		}
	})

	t.Run("apply and rollback", func(t *testing.T) {
		rep, err := pm.Apply(ctx, r1, pins("pp-demo-web=1.1.0"), aopts("pp-test-apply-1"))
		if err != nil {
			t.Fatal(err)
		}
		want := []patchpilot.PackageChange{{Name: "pp-demo-web", From: "1.0.0", To: "1.1.0"}}
		if rep.ExitCode != 0 || !slices.Equal(rep.Changes, want) || rep.RebootRequired {
			t.Fatalf("apply: got %+v, want exit 0 and %v", rep, want)
		}
		checkVersion(t, pm, r1, "pp-demo-web", "1.1.0")
		// The same unit again is the same transaction: nothing new runs.
		if _, err := pm.Apply(ctx, r1, pins("pp-demo-web=1.1.0"), aopts("pp-test-apply-1")); err != nil {
			t.Fatal(err)
		}
		if _, err := pm.Apply(ctx, r1, pins("pp-demo-web=1.1.3"), aopts("pp-test-apply-1")); patchpilot.ErrorCode(err) != patchpilot.ECONFLICT {
			t.Errorf("another transaction under the same unit: got %v, want ECONFLICT", err)
		}

		rb, err := pm.Rollback(ctx, r1, snap, aopts("pp-test-rollback-1"))
		if err != nil {
			t.Fatal(err)
		}
		if rb.ExitCode != 0 || !slices.Equal(rb.Changes, []patchpilot.PackageChange{{Name: "pp-demo-web", From: "1.1.0", To: "1.0.0"}}) {
			t.Fatalf("rollback: got %+v", rb)
		}
		checkVersion(t, pm, r1, "pp-demo-web", "1.0.0")
		log := sh(t, r1, "grep -E ' upgrade pp-demo-web:' /var/log/dpkg.log")
		for _, line := range []string{"1.0.0 1.1.0", "1.1.0 1.0.0"} {
			if !strings.Contains(log, line) {
				t.Errorf("dpkg.log lacks upgrade %s:\n%s", line, log)
			}
		}
	})

	t.Run("failing postinst", func(t *testing.T) {
		rep, err := pm.Apply(ctx, r1, pins("pp-demo-web=1.1.4"), aopts("pp-test-apply-2"))
		if err != nil {
			t.Fatal(err)
		}
		if rep.ExitCode == 0 || !strings.Contains(rep.Output, "Sub-process /usr/bin/dpkg returned an error code") {
			t.Fatalf("apply 1.1.4: got exit %d, output %q; want a dpkg failure", rep.ExitCode, rep.Output)
		}
		if st := sh(t, r1, "dpkg-query -W -f '${db:Status-Abbrev}' pp-demo-web"); strings.TrimSpace(st) != "iF" {
			t.Errorf("status after the failed postinst: got %q, want iF", st)
		}
		rb, err := pm.Rollback(ctx, r1, snap, aopts("pp-test-rollback-2"))
		if err != nil || rb.ExitCode != 0 {
			t.Fatalf("rollback: got %+v, %v", rb, err)
		}
		checkVersion(t, pm, r1, "pp-demo-web", "1.0.0")
		if st := sh(t, r1, "dpkg-query -W -f '${db:Status-Abbrev}' pp-demo-web; dpkg --audit"); strings.TrimSpace(st) != "ii" {
			t.Errorf("status after rollback: got %q, want ii and a clean audit", st)
		}
	})

	t.Run("controller drops mid-transaction", func(t *testing.T) {
		before := strings.Count(sh(t, r2, "cat /var/log/dpkg.log"), "upgrade pp-demo-web:")
		r, err := d.Dial(ctx, hosts[1])
		if err != nil {
			t.Fatal(err)
		}
		// Slow the transaction down: the lock is held for a few
		// seconds, and apt waits for it inside the detached unit.
		if err := l.Fault(ctx, hosts[1].Name, "dpkg-lock"); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := pm.Apply(ctx, r, pins("pp-demo-web=1.1.0"), aopts("pp-test-apply-3"))
			done <- err
		}()
		time.Sleep(2 * time.Second)
		r.Close() // the controller dies
		if err := <-done; err == nil {
			t.Error("apply over a closed connection: got no error")
		}
		if err := l.Heal(ctx, hosts[1].Name); err != nil {
			t.Fatal(err)
		}
		r = dial(t, d, hosts[1])
		// The first controller started the unit before it died.
		if st, err := pm.Jobs.Status(ctx, r, "pp-test-apply-3"); err != nil || !(st.Active || st.Finished) {
			t.Fatalf("unit after the controller died: got %+v, %v; want it running or finished", st, err)
		}
		rep, err := pm.Apply(ctx, r, pins("pp-demo-web=1.1.0"), aopts("pp-test-apply-3"))
		if err != nil || rep.ExitCode != 0 {
			t.Fatalf("apply again: got %+v, %v", rep, err)
		}
		checkVersion(t, pm, r, "pp-demo-web", "1.1.0")
		after := strings.Count(sh(t, r, "cat /var/log/dpkg.log"), "upgrade pp-demo-web:")
		if after-before != 1 {
			t.Errorf("dpkg.log has %d new pp-demo-web upgrades, want exactly 1", after-before)
		}
		if _, err := pm.Wait(ctx, r, "pp-test-apply-3", aopts("pp-test-apply-3")); err != nil {
			t.Errorf("wait for a finished unit: %v", err)
		}
	})

	t.Run("downgrade", func(t *testing.T) { testDowngrade(t, pm, r2, popts, aopts) })
}

// testDowngrade rolls hosts[1] (left at pp-demo-web 1.1.0) back to 1.0.0:
// refused by the dry run and by apply alike without AllowDowngrade, done
// with it. PP_PKGMGR_CAPTURE=DIR keeps apt's refusal for the parser tests.
func testDowngrade(t *testing.T, pm *debian.PackageManager, r patchpilot.Runner, popts patchpilot.PreflightOptions, aopts func(string) patchpilot.ApplyOptions) {
	ctx := context.Background()
	checkVersion(t, pm, r, "pp-demo-web", "1.1.0")
	down := pins("pp-demo-web=1.0.0")

	res, err := r.Run(ctx, debian.SimulateCommand(down, debian.InstallOptions{LockWait: popts.LockWait}))
	if err != nil {
		t.Fatal(err)
	}
	out := append(append([]byte(nil), res.Stdout...), res.Stderr...)
	if dir := os.Getenv("PP_PKGMGR_CAPTURE"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "simulate-downgrade-refused.out"), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if e := debian.ParseAptErrors(out); res.ExitCode == 0 || !e.DowngradeRefused || !slices.Equal(e.Downgrades, []string{"pp-demo-web"}) {
		t.Errorf("dry run of a downgrade: exit %d, parsed %+v; want refused for pp-demo-web:\n%s", res.ExitCode, e, out)
	}

	rep, err := pm.Preflight(ctx, r, down, popts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "downgrade") || !slices.Equal(rep.Downgrades, []string{"pp-demo-web"}) {
		t.Errorf("preflight without AllowDowngrade: got problems %q downgrades %v; want the downgrade refused", rep.Problems, rep.Downgrades)
	}
	// Apply agrees with its dry run: refused, and nothing changed.
	ap, err := pm.Apply(ctx, r, down, aopts("pp-test-apply-4"))
	if err != nil {
		t.Fatal(err)
	}
	if ap.ExitCode == 0 || !strings.Contains(ap.Output, "--allow-downgrades") {
		t.Errorf("apply without AllowDowngrade: got exit %d, output %q; want apt's refusal", ap.ExitCode, ap.Output)
	}
	checkVersion(t, pm, r, "pp-demo-web", "1.1.0")

	allowed := popts
	allowed.AllowDowngrade = true
	rep, err = pm.Preflight(ctx, r, down, allowed)
	if err != nil {
		t.Fatal(err)
	}
	if want := []patchpilot.PackageChange{{Name: "pp-demo-web", From: "1.1.0", To: "1.0.0"}}; len(rep.Problems) != 0 || !slices.Equal(rep.Changes, want) ||
		!slices.Equal(rep.Downgrades, []string{"pp-demo-web"}) {
		t.Errorf("preflight with AllowDowngrade: got %+v; want no problems and %v", rep, want)
	}
	o := aopts("pp-test-apply-5")
	o.AllowDowngrade = true
	ap, err = pm.Apply(ctx, r, down, o)
	if err != nil {
		t.Fatal(err)
	}
	if want := []patchpilot.PackageChange{{Name: "pp-demo-web", From: "1.1.0", To: "1.0.0"}}; ap.ExitCode != 0 || !slices.Equal(ap.Changes, want) {
		t.Errorf("apply with AllowDowngrade: got exit %d changes %v, want 0 and %v:\n%s", ap.ExitCode, ap.Changes, want, ap.Output)
	}
	checkVersion(t, pm, r, "pp-demo-web", "1.0.0")
}

func checkVersion(t *testing.T, pm *debian.PackageManager, r patchpilot.Runner, name, want string) {
	t.Helper()
	got, err := pm.Installed(context.Background(), r, []string{name})
	if err != nil {
		t.Fatal(err)
	}
	if got[name] != want {
		t.Errorf("%s: installed %q, want %q", name, got[name], want)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
