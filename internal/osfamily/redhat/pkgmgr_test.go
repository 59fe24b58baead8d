package redhat

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

func readPM(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "pkgmgr", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// replay is a host whose dnf replays the transcripts: it answers commands
// by their command line, and keeps the state a detached job changes (its
// exit status, and dnf's history).
type replay struct {
	t       *testing.T
	started map[string][]string // unit → args
	logs    map[string]string   // first word after the job's args → log transcript
	history string
	ran     []string
}

func (f *replay) Run(_ context.Context, cmd patchpilot.Command) (patchpilot.Result, error) {
	line := cmd.String()
	f.ran = append(f.ran, line)
	a := cmd.Args
	ok := func(b []byte) (patchpilot.Result, error) { return patchpilot.Result{Stdout: b}, nil }
	switch {
	case a[0] == "rpm":
		return patchpilot.Result{Stdout: readPM(f.t, "rpm-query.out"), ExitCode: 1}, nil
	case a[0] == "df":
		return ok([]byte("    Avail\n9663676416\n"))
	case a[0] == "timeout" && slices.Contains(a, "pp-demo-web-9.9.9"):
		return patchpilot.Result{Stdout: readPM(f.t, "dryrun-nomatch.out"), ExitCode: 1}, nil
	case a[0] == "timeout" && slices.Contains(a, "pp-demo-web-0.9.0-1.el9"):
		return patchpilot.Result{Stdout: readPM(f.t, "dryrun-downgrade.out"), ExitCode: 1}, nil
	case a[0] == "timeout" && slices.Contains(a, "pp-demo-web-1.1.0"):
		return patchpilot.Result{Stdout: readPM(f.t, "dryrun-locked.out"), ExitCode: 124}, nil
	case a[0] == "timeout":
		return patchpilot.Result{Stdout: readPM(f.t, "dryrun-upgrade.out"), ExitCode: 1}, nil
	case line == "dnf -q versionlock list":
		return ok(readPM(f.t, "versionlock.out"))
	case line == "dnf -q history list":
		return ok(readPM(f.t, f.history))
	case a[0] == "needs-restarting":
		return patchpilot.Result{Stdout: []byte("No core libraries or services have been updated since boot-up.\nReboot should not be necessary.\n")}, nil
	case a[0] == "systemd-run":
		unit := strings.TrimSuffix(strings.TrimPrefix(a[1], "--unit="), ".service")
		i := slices.Index(a, "patchpilot-job")
		f.started[unit] = a[i+4:]
		if slices.Contains(a, "install") {
			f.history = "history-after.out"
		} else {
			f.history = "history-before.out"
		}
		return ok(nil)
	case a[0] == "/bin/sh" && a[3] == "patchpilot-status":
		args, ok2 := f.started[a[5]]
		if !ok2 {
			return ok([]byte("inactive\n-\n"))
		}
		return ok([]byte("inactive\n0\n" + strings.Join(args, "\n") + "\n"))
	case a[0] == "tail":
		unit := strings.TrimSuffix(filepath.Base(a[3]), ".log")
		return ok(readPM(f.t, f.logs[f.started[unit][1]]))
	}
	f.t.Fatalf("unexpected command %q", line)
	return patchpilot.Result{}, nil
}

func (f *replay) Close() error { return nil }

func TestPackageManagerReplay(t *testing.T) {
	ctx := context.Background()
	f := &replay{t: t, started: map[string][]string{}, history: "history-before.out",
		logs: map[string]string{"install": "apply.log", "history": "undo.log"}}
	pm := &PackageManager{}
	pm.Jobs.PollInterval = time.Millisecond
	pin := func(n, v string) []patchpilot.PackagePin { return []patchpilot.PackagePin{{Name: n, Version: v}} }
	opts := patchpilot.PreflightOptions{LockWait: time.Second, MinFreeBytes: 1 << 20}

	rep, err := pm.Preflight(ctx, f, append(pin("pp-agent", "2.0.0"), pin("pp-libdemo-tools", "1.1.0")...), opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []patchpilot.PackageChange{
		{Name: "pp-agent", From: "1.0.0-1.el9", To: "2.0.0-1.el9"},
		{Name: "pp-agent-legacy", From: "1.0.0-1.el9"},
		{Name: "pp-libdemo-tools", From: "1.0.0-1.el9", To: "1.1.0-1.el9"},
		{Name: "pp-libdemo", From: "1.0.0-1.el9", To: "1.1.0-1.el9"},
	}
	if !slices.Equal(rep.Changes, want) {
		t.Errorf("changes: got %v, want %v", rep.Changes, want)
	}
	if !slices.Equal(rep.Removals, []string{"pp-agent-legacy"}) || !slices.Equal(rep.Held, []string{"pp-libdemo"}) || len(rep.Problems) != 2 || rep.FreeBytes != 9663676416 {
		t.Errorf("got removals %v held %v problems %q free %d", rep.Removals, rep.Held, rep.Problems, rep.FreeBytes)
	}

	rep, err = pm.Preflight(ctx, f, pin("pp-demo-web", "9.9.9"), opts)
	if err != nil || !slices.Equal(rep.Unavailable, []string{"pp-demo-web-9.9.9"}) {
		t.Errorf("missing version: got %+v, %v", rep, err)
	}
	rep, err = pm.Preflight(ctx, f, pin("pp-demo-web", "1.1.0"), opts)
	if err != nil || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "lock") {
		t.Errorf("lock held: got %q, %v", rep.Problems, err)
	}

	// dnf downgrades to an exact version by itself: the dry run's
	// Downgrading section is refused unless the plan allows it.
	rep, err = pm.Preflight(ctx, f, pin("pp-demo-web", "0.9.0-1.el9"), opts)
	if err != nil || !slices.Equal(rep.Downgrades, []string{"pp-demo-web"}) || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], "downgrade") ||
		!slices.Equal(rep.Changes, []patchpilot.PackageChange{{Name: "pp-demo-web", From: "1.0.0-1.el9", To: "0.9.0-1.el9"}}) {
		t.Errorf("downgrade: got %+v, %v; want pp-demo-web downgraded and refused", rep, err)
	}
	allowed := opts
	allowed.AllowDowngrade = true
	rep, err = pm.Preflight(ctx, f, pin("pp-demo-web", "0.9.0-1.el9"), allowed)
	if err != nil || !slices.Equal(rep.Downgrades, []string{"pp-demo-web"}) || len(rep.Problems) != 0 {
		t.Errorf("allowed downgrade: got %+v, %v; want the downgrade and no problem", rep, err)
	}
	if dry, apply := DryRunCommand(pin("pp-demo-web", "1.1.0"), time.Second).Args, ApplyArgs(pin("pp-demo-web", "1.1.0")); !slices.Equal(dry[5:], apply[3:]) || !slices.Equal(dry[2:4], apply[:2]) {
		t.Errorf("dry run %q and apply %q differ beyond the answer", dry, apply)
	}

	snap, err := pm.Snapshot(ctx, f, patchpilot.PreflightReport{Changes: []patchpilot.PackageChange{{Name: "pp-demo-web", From: "1.0.0-1.el9", To: "1.1.0-1.el9"}}})
	if err != nil || snap.Transaction != "7" || snap.Versions["pp-demo-web"] != "1.0.0-1.el9" {
		t.Fatalf("snapshot: got %+v, %v; want transaction 7 and pp-demo-web 1.0.0-1.el9", snap, err)
	}

	ap, err := pm.Apply(ctx, f, pin("pp-demo-web", "1.1.0-1.el9"), patchpilot.ApplyOptions{Unit: "pp-apply", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if ap.ExitCode != 0 || ap.Transaction != "8" || ap.RebootRequired || !slices.Equal(ap.Changes, []patchpilot.PackageChange{{Name: "pp-demo-web", To: "1.1.0-1.el9"}}) {
		t.Errorf("apply: got %+v", ap)
	}
	if got := f.started["pp-apply"]; !slices.Equal(got, []string{"dnf", "install", "-y", "--setopt=install_weak_deps=False", "pp-demo-web-1.1.0-1.el9"}) {
		t.Errorf("apply command: got %q", got)
	}

	rb, err := pm.Rollback(ctx, f, snap, patchpilot.ApplyOptions{Unit: "pp-rollback", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.started["pp-rollback"]; !slices.Equal(got, []string{"dnf", "history", "undo", "-y", "8"}) {
		t.Errorf("rollback command: got %q, want an undo of transaction 8", got)
	}
	if rb.ExitCode != 0 || !slices.Equal(rb.Changes, []patchpilot.PackageChange{{Name: "pp-demo-web", To: "1.0.0-1.el9"}}) {
		t.Errorf("rollback: got %+v", rb)
	}
}

func TestValidPinsRPM(t *testing.T) {
	for _, tc := range []struct {
		name, version string
		ok            bool
	}{
		{"openssl-libs", "1:3.0.7-27.el9", true},
		{"pp-demo-web", "1.1.0", true},
		{"kernel-core", "5.14.0-427.13.1.el9_4", true},
		{"-y", "1.0", false},
		{"pp", "1.0;reboot", false},
		{"pp", "-1", false},
		{"pp", "", false},
	} {
		err := ValidPins([]patchpilot.PackagePin{{Name: tc.name, Version: tc.version}})
		if (err == nil) != tc.ok {
			t.Errorf("%s=%s: got %v, want ok=%v", tc.name, tc.version, err, tc.ok)
		}
	}
}

func TestParseHistoryAndVersionlock(t *testing.T) {
	ids, err := ParseHistoryList(readPM(t, "history-after.out"))
	if err != nil || !slices.Equal(ids, []int{8, 7, 6, 5}) {
		t.Errorf("history: got %v, %v", ids, err)
	}
	if got := ParseVersionlock(readPM(t, "versionlock.out")); !slices.Equal(got, []string{"pp-libdemo", "pp-kernel-demo"}) {
		t.Errorf("versionlock: got %v", got)
	}
}
