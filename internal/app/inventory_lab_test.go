package app_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
	"github.com/patchpilot/patchpilot/internal/lab"
	"github.com/patchpilot/patchpilot/internal/lab/labtest"
	"github.com/patchpilot/patchpilot/internal/osfamily/debian"
	"github.com/patchpilot/patchpilot/internal/ssh"
)

// inventoryLabSubnet is this package's lab subnet.
const inventoryLabSubnet = "127.0.63"

// TestCollectMatchesAptOnTheRealisticLab collects a lab of hosts that
// look like real servers (Debian's full indexes, the standard task) and
// checks, host by host, that the pending updates and removals equal what
// apt itself reports on the host: apt-get -s dist-upgrade, and apt list
// --upgradable for the upgrades of installed packages (held packages
// aside, which apt list still lists and dist-upgrade keeps back). It does
// so again after holding, pinning and removing packages on three hosts,
// so that reusing pending updates across hosts and across collections is
// proven to notice each change; the fourth host, unchanged, keeps its
// package state.
func TestCollectMatchesAptOnTheRealisticLab(t *testing.T) {
	labtest.Require(t, nil)
	labtest.Lock(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir := t.TempDir()
	// Four hosts: roles web, worker, db, web, so that two hosts start in
	// the same package state and share one simulation.
	l, err := lab.Up(ctx, lab.Options{Dir: filepath.Join(dir, "lab"), Hosts: 4, Subnet: inventoryLabSubnet, Profile: lab.ProfileRealistic})
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
	a, err := app.New(ctx, app.Options{DBPath: filepath.Join(dir, "pp.db"), Env: []string{"HOME=" + dir, "USER=root"}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	d, err := ssh.NewDialer(ssh.Options{KnownHostsFile: l.KnownHostsFile(), KeyFiles: []string{l.KeyFile()}})
	if err != nil {
		t.Fatal(err)
	}
	hosts := l.Hosts()
	collect := func(round string) map[string]patchpilot.Facts {
		t.Helper()
		rep, err := a.Collect(ctx, d, hosts, app.CollectOptions{}, "ssh", nil)
		if err != nil {
			t.Fatalf("%s collection: %v", round, err)
		}
		out := map[string]patchpilot.Facts{}
		for _, h := range rep.Hosts {
			if h.Err != nil {
				t.Fatalf("%s collection of %s: %v", round, h.Host.Name, h.Err)
			}
			f, err := a.Store.LatestFacts(ctx, h.Host.Name)
			if err != nil {
				t.Fatalf("%s collection of %s: read the facts stored: %v", round, h.Host.Name, err)
			}
			out[h.Host.Name] = f
		}
		return out
	}
	check := func(round string, facts map[string]patchpilot.Facts) {
		t.Helper()
		for _, h := range hosts {
			f := facts[h.Name]
			if f.PackageState == "" || !f.UpdatesKnown {
				t.Fatalf("%s: %s: package state %q, updates known %v", round, h.Name, f.PackageState, f.UpdatesKnown)
			}
			if len(f.Packages) < 250 {
				t.Errorf("%s: %s has %d packages installed, want a realistic set", round, h.Name, len(f.Packages))
			}
			compareWithApt(t, ctx, l, round, h.Name, f)
		}
	}

	first := collect("first")
	check("first", first)
	if first["lab01"].PackageState != first["lab04"].PackageState {
		t.Errorf("lab01 and lab04 (both web) have package states %s and %s, want one", first["lab01"].PackageState, first["lab04"].PackageState)
	}
	if first["lab01"].PackageState == first["lab02"].PackageState {
		t.Errorf("lab01 (web) and lab02 (worker) share package state %s; their installed packages differ", first["lab01"].PackageState)
	}

	// An unchanged fleet: the same answers, from the stored ones.
	again := collect("repeated")
	check("repeated", again)
	for _, h := range hosts {
		if again[h.Name].PackageState != first[h.Name].PackageState {
			t.Errorf("repeated: %s changed package state with nothing done on it", h.Name)
		}
	}

	// Change three hosts: a hold, a pin, a removal.
	changes := map[string]string{
		"lab01": "apt-mark hold pp-demo-web",
		"lab02": "printf 'Package: pp-demo-web\\nPin: version 1.1.0\\nPin-Priority: 990\\n' > /etc/apt/preferences.d/pp-demo-web",
		"lab03": "DEBIAN_FRONTEND=noninteractive dpkg -r pp-libdemo-tools",
	}
	for host, line := range changes {
		if out, err := l.Exec(ctx, host, "/bin/sh", "-c", line); err != nil {
			t.Fatalf("%s: %s: %v: %s", host, line, err, out)
		}
	}
	changed := collect("after changes")
	check("after changes", changed)
	for _, h := range hosts {
		_, touched := changes[h.Name]
		same := changed[h.Name].PackageState == again[h.Name].PackageState
		if touched && same {
			t.Errorf("after changes: %s keeps package state %s after %q", h.Name, again[h.Name].PackageState, changes[h.Name])
		}
		if !touched && !same {
			t.Errorf("after changes: %s, untouched, changed package state", h.Name)
		}
	}
	if u := findUpdate(changed["lab01"], "pp-demo-web"); u != nil {
		t.Errorf("after changes: lab01 held pp-demo-web, still pending: %+v", *u)
	}
	if u := findUpdate(changed["lab02"], "pp-demo-web"); u == nil || u.CandidateVersion != "1.1.0" {
		t.Errorf("after changes: lab02 pinned pp-demo-web to 1.1.0, pending: %+v", u)
	}
	if u := findUpdate(changed["lab03"], "pp-libdemo-tools"); u != nil {
		t.Errorf("after changes: lab03 removed pp-libdemo-tools, still pending: %+v", *u)
	}
}

func findUpdate(f patchpilot.Facts, name string) *patchpilot.Update {
	for i := range f.Updates {
		if f.Updates[i].Package == name {
			return &f.Updates[i]
		}
	}
	return nil
}

// compareWithApt asks apt on the host itself and compares its answers
// with the collected facts.
func compareWithApt(t *testing.T, ctx context.Context, l *lab.Lab, round, host string, f patchpilot.Facts) {
	t.Helper()
	sim, err := l.Exec(ctx, host, "env", "LC_ALL=C", "apt-get", "-s", "-o", "Debug::NoLocking=1", "dist-upgrade")
	if err != nil {
		t.Fatalf("%s: %s: apt-get -s dist-upgrade: %v: %s", round, host, err, sim)
	}
	plan, err := debian.ParseAptSimulate(sim)
	if err != nil {
		t.Fatal(err)
	}
	key := func(name, arch, from, to string) string { return fmt.Sprintf("%s:%s %s -> %s", name, arch, from, to) }
	var want, got []string
	for _, u := range plan.Updates {
		want = append(want, key(u.Package, u.Arch, u.InstalledVersion, u.CandidateVersion))
	}
	for _, u := range f.Updates {
		got = append(got, key(u.Package, u.Arch, u.InstalledVersion, u.CandidateVersion))
	}
	slices.Sort(want)
	slices.Sort(got)
	if len(want) == 0 || !slices.Equal(want, got) {
		t.Errorf("%s: %s: pending updates\n got %q\nwant %q (apt-get -s dist-upgrade)", round, host, got, want)
	}
	var wantRm, gotRm []string
	for _, r := range plan.Removals {
		wantRm = append(wantRm, r.Package+" "+r.Version)
	}
	for _, r := range f.Removals {
		gotRm = append(gotRm, r.Name+" "+r.From)
	}
	slices.Sort(wantRm)
	slices.Sort(gotRm)
	if !slices.Equal(wantRm, gotRm) {
		t.Errorf("%s: %s: removals\n got %q\nwant %q (apt-get -s dist-upgrade)", round, host, gotRm, wantRm)
	}

	// apt list --upgradable: "name/suites version arch [upgradable from: old]".
	out, err := l.Exec(ctx, host, "env", "LC_ALL=C", "apt", "list", "--upgradable")
	if err != nil {
		t.Fatalf("%s: %s: apt list --upgradable: %v: %s", round, host, err, out)
	}
	held, err := l.Exec(ctx, host, "apt-mark", "showhold")
	if err != nil {
		t.Fatalf("%s: %s: apt-mark showhold: %v: %s", round, host, err, held)
	}
	isHeld := map[string]bool{}
	for _, n := range strings.Fields(string(held)) {
		isHeld[n] = true
	}
	var wantList, gotList []string
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 6 || fields[3] != "[upgradable" {
			continue
		}
		name, _, _ := strings.Cut(fields[0], "/")
		if isHeld[name] {
			continue
		}
		wantList = append(wantList, key(name, fields[2], strings.TrimSuffix(fields[5], "]"), fields[1]))
	}
	for _, u := range f.Updates {
		if u.InstalledVersion != "" {
			gotList = append(gotList, key(u.Package, u.Arch, u.InstalledVersion, u.CandidateVersion))
		}
	}
	slices.Sort(wantList)
	slices.Sort(gotList)
	if !slices.Equal(wantList, gotList) {
		t.Errorf("%s: %s: upgrades of installed packages\n got %q\nwant %q (apt list --upgradable)", round, host, gotList, wantList)
	}
}
