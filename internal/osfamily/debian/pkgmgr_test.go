package debian

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

func readPM(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "pkgmgr", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidPins(t *testing.T) {
	for _, tc := range []struct {
		pin patchpilot.PackagePin
		ok  bool
	}{
		{patchpilot.PackagePin{Name: "pp-demo-web", Version: "1.1.0"}, true},
		{patchpilot.PackagePin{Name: "libc6", Version: "2.36-9+deb12u4"}, true},
		{patchpilot.PackagePin{Name: "openssh-server", Version: "1:9.2p1-2+deb12u3"}, true},
		{patchpilot.PackagePin{Name: "libstdc++6", Version: "12.2.0-14~bpo11+1"}, true},
		{patchpilot.PackagePin{Name: "-o", Version: "1.0"}, false},
		{patchpilot.PackagePin{Name: "Pp", Version: "1.0"}, false},
		{patchpilot.PackagePin{Name: "pp", Version: "-1.0"}, false},
		{patchpilot.PackagePin{Name: "pp", Version: "1.0 ; rm -rf /"}, false},
		{patchpilot.PackagePin{Name: "pp", Version: ""}, false},
		{patchpilot.PackagePin{Name: "pp", Version: "a1.0"}, false},
		{patchpilot.PackagePin{Name: "p", Version: "1.0"}, false},
	} {
		err := ValidPins([]patchpilot.PackagePin{tc.pin})
		if got := err == nil; got != tc.ok {
			t.Errorf("%s: got valid=%v (%v), want %v", tc.pin, got, err, tc.ok)
		}
		if err != nil && patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			t.Errorf("%s: got code %s, want invalid", tc.pin, patchpilot.ErrorCode(err))
		}
	}
	if err := ValidPins(nil); err == nil {
		t.Error("no pins: got no error")
	}
}

func TestParseInstalled(t *testing.T) {
	got, err := ParseInstalled(readPM(t, "dpkg-query.out"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"pp-agent": "1.0.0", "pp-demo-web": "1.0.0"}
	if len(got) != len(want) || got["pp-agent"] != "1.0.0" || got["pp-demo-web"] != "1.0.0" {
		t.Errorf("got %v, want %v", got, want)
	}
	got, err = ParseInstalled([]byte("a1\t1.0\trc \nb1\t2.0\tiF \nc1\t3.0\tiU \n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["a1"]; ok || got["b1"] != "2.0" || got["c1"] != "3.0" {
		t.Errorf("states: got %v, want a1 absent (rc), b1 2.0 (iF), c1 3.0 (iU)", got)
	}
	for _, bad := range []string{"a\t1.0\n", "a\t1.0\tq?\n", "a\t\tii \n"} {
		if _, err := ParseInstalled([]byte(bad)); err == nil {
			t.Errorf("%q: got no error", bad)
		}
	}
}

func TestParseMadison(t *testing.T) {
	got, err := ParseMadison(readPM(t, "madison.out"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"1.1.4", "1.1.3", "1.1.2", "1.1.1", "1.1.0", "1.0.0"}; !slices.Equal(got["pp-demo-web"], want) {
		t.Errorf("pp-demo-web: got %v, want %v", got["pp-demo-web"], want)
	}
	if want := []string{"2.0.0", "1.0.0"}; !slices.Equal(got["pp-agent"], want) {
		t.Errorf("pp-agent: got %v, want %v", got["pp-agent"], want)
	}
}

func TestParseAptErrors(t *testing.T) {
	e := ParseAptErrors(readPM(t, "simulate-unavailable.out"))
	if want := []patchpilot.PackagePin{{Name: "pp-demo-web", Version: "9.9.9"}}; !slices.Equal(e.Unavailable, want) || e.LockHeld {
		t.Errorf("unavailable: got %+v, want %v and no lock", e, want)
	}
	e = ParseAptErrors(readPM(t, "check-locked.out"))
	if !e.LockHeld || len(e.Errors) != 1 {
		t.Errorf("locked: got %+v, want the lock held and one error", e)
	}
	e = ParseAptErrors(readPM(t, "simulate-downgrade-refused.out"))
	if !e.DowngradeRefused || !slices.Equal(e.Downgrades, []string{"pp-demo-web"}) || e.LockHeld {
		t.Errorf("downgrade refused: got %+v, want pp-demo-web refused", e)
	}
	if e = ParseAptErrors(readPM(t, "simulate-unavailable.out")); e.DowngradeRefused || len(e.Downgrades) != 0 {
		t.Errorf("no downgrade: got %+v", e)
	}
	e = ParseAptErrors([]byte("E: Unable to locate package nosuch\n"))
	if !slices.Equal(e.Unavailable, []patchpilot.PackagePin{{Name: "nosuch"}}) {
		t.Errorf("unknown package: got %+v", e)
	}
}

func TestParseDpkgProgress(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []patchpilot.PackageChange
	}{
		{"apply-failing-postinst.out", []patchpilot.PackageChange{{Name: "pp-demo-web", From: "1.0.0", To: "1.1.4"}}},
		{"apply-agent.out", []patchpilot.PackageChange{
			{Name: "pp-demo-web", From: "1.1.4", To: "1.0.0"},
			{Name: "pp-agent-legacy", From: "1.0.0"},
			{Name: "pp-agent", From: "1.0.0", To: "2.0.0"},
		}},
	} {
		if got := ParseDpkgProgress(readPM(t, tc.file)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.file, got, tc.want)
		}
	}
	out := tailOf(readPM(t, "apply-failing-postinst.out"))
	if strings.Contains(out, "Reading database ... 5%") || !strings.Contains(out, "Sub-process /usr/bin/dpkg returned an error code (1)") {
		t.Errorf("tail: got %q", out)
	}
}

func TestParseFreeSpace(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"    Avail\n526548992\n", 526548992, true},
		{"Avail\n0\n", 0, true},
		{"Avail\n-1\n", 0, false},
		{"Filesystem 1K-blocks\n", 0, false},
	} {
		got, err := ParseFreeSpace([]byte(tc.in))
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("%q: got %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestSimulateIsTheApply checks that the dry run is apply's transaction
// with only apt's simulate options added, for both settings of
// AllowDowngrade: a dry run without -y passed a downgrade that apply,
// with -y, refused.
func TestSimulateIsTheApply(t *testing.T) {
	pins := []patchpilot.PackagePin{{Name: "pp-demo-web", Version: "1.0.0"}}
	for _, allow := range []bool{false, true} {
		opts := InstallOptions{LockWait: 5 * time.Second, AllowDowngrade: allow}
		apply := ApplyArgs(pins, opts)
		sim := SimulateCommand(pins, opts).Args
		var rest []string
		for i := 0; i < len(sim); i++ {
			if sim[i] == "-s" {
				continue
			}
			if sim[i] == "-o" && i+1 < len(sim) && sim[i+1] == "Debug::NoLocking=1" {
				i++
				continue
			}
			rest = append(rest, sim[i])
		}
		if !slices.Equal(rest, apply) || !slices.Contains(sim, "-s") || !slices.Contains(sim, "-y") {
			t.Errorf("allow %v: dry run %q is not apply %q with -s", allow, sim, apply)
		}
		if got := slices.Contains(apply, "--allow-downgrades"); got != allow {
			t.Errorf("allow %v: apply %q has --allow-downgrades = %v", allow, apply, got)
		}
	}
}

func TestRollbackArgs(t *testing.T) {
	snap := patchpilot.PackageSnapshot{
		Versions:  map[string]string{"pp-demo-web": "1.0.0", "pp-new": "", "pp-lib": "2.0"},
		Artifacts: map[string]string{"pp-demo-web": "/var/lib/patchpilot/artifacts/pp-demo-web_1.0.0_amd64.deb"},
	}
	args, err := RollbackArgs(snap, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tail := args[slices.Index(args, "--")+1:]
	if want := []string{"/var/lib/patchpilot/artifacts/pp-demo-web_1.0.0_amd64.deb", "pp-lib=2.0", "pp-new-"}; !slices.Equal(tail, want) {
		t.Errorf("got %v, want %v", tail, want)
	}
	if !slices.Contains(args, "--allow-downgrades") || !slices.Contains(args, "DPkg::Lock::Timeout=5") || !slices.Contains(args, "Dpkg::Options::=--force-confold") {
		t.Errorf("got %v, want downgrades allowed, the lock wait and confold", args)
	}
	for _, bad := range []string{"relative.deb", "/tmp/../etc/x.deb", "/tmp/a b.deb", "/tmp/x.rpm"} {
		snap.Artifacts["pp-demo-web"] = bad
		if _, err := RollbackArgs(snap, 0); patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			t.Errorf("artifact %q: got %v, want EINVALID", bad, err)
		}
	}
}

// fakeRunner answers commands by their first words that match, and records
// every command it ran.
type fakeRunner struct {
	mu      sync.Mutex
	answers []fakeAnswer
	ran     []string
}

type fakeAnswer struct {
	contains string
	res      patchpilot.Result
	after    string // answer only once a command containing this ran
}

func (f *fakeRunner) Run(_ context.Context, cmd patchpilot.Command) (patchpilot.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	line := cmd.String()
	f.ran = append(f.ran, line)
	for _, a := range f.answers {
		if strings.Contains(line, a.contains) && (a.after == "" || slices.ContainsFunc(f.ran, func(c string) bool { return strings.Contains(c, a.after) })) {
			return a.res, nil
		}
	}
	return patchpilot.Result{ExitCode: 1}, nil
}

func (f *fakeRunner) Close() error { return nil }

// TestSnapshotFallsBack checks the artifact sources in order: when the
// repository no longer offers the installed version, the apt cache's copy
// is kept; with neither, dpkg-repack; with nothing, the package is Missing.
func TestSnapshotFallsBack(t *testing.T) {
	const dir = "/var/lib/patchpilot/artifacts"
	info := patchpilot.Result{Stdout: []byte("Package: pp-demo-web\nVersion: 1:1.0.0\n")}
	base := []fakeAnswer{
		{"dpkg-query -W -f ${Package}", patchpilot.Result{Stdout: []byte("pp-demo-web\t1:1.0.0\tii \n")}, ""},
		{"dpkg-query -W -f ${Architecture}", patchpilot.Result{Stdout: []byte("amd64\n")}, ""},
		{"mkdir", patchpilot.Result{}, ""},
	}
	plan := patchpilot.PreflightReport{Changes: []patchpilot.PackageChange{{Name: "pp-demo-web", From: "1:1.0.0", To: "1:1.1.0"}}}
	for _, tc := range []struct {
		name    string
		answers []fakeAnswer
		want    string
		last    string // the command that secured it
	}{
		{"repository", []fakeAnswer{{"apt-get -o APT::Sandbox::User=root download", patchpilot.Result{}, ""}, {"dpkg-deb -f " + dir + "/pp-demo-web_1%3a1.0.0_amd64.deb", info, "download"}},
			dir + "/pp-demo-web_1%3a1.0.0_amd64.deb", "download"},
		{"apt cache", []fakeAnswer{{"cp -p -- /var/cache/apt/archives/pp-demo-web_1%3a1.0.0_amd64.deb", patchpilot.Result{}, ""}, {"dpkg-deb -f " + dir + "/pp-demo-web_1%3a1.0.0_amd64.deb", info, "cp -p"}},
			dir + "/pp-demo-web_1%3a1.0.0_amd64.deb", "cp -p"},
		{"dpkg-repack", []fakeAnswer{{"dpkg-repack -- pp-demo-web", patchpilot.Result{}, ""}, {"dpkg-deb -f " + dir + "/pp-demo-web_1.0.0_amd64.deb", info, "dpkg-repack"}},
			dir + "/pp-demo-web_1.0.0_amd64.deb", "dpkg-repack"},
		{"nothing", nil, "", "dpkg-repack"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRunner{answers: append(slices.Clone(base), tc.answers...)}
			pm := &PackageManager{}
			snap, err := pm.Snapshot(context.Background(), f, plan)
			if err != nil {
				t.Fatal(err)
			}
			if got := snap.Artifacts["pp-demo-web"]; got != tc.want {
				t.Errorf("artifact: got %q, want %q (ran %q)", got, tc.want, f.ran)
			}
			if tc.want == "" && !slices.Equal(snap.Missing, []string{"pp-demo-web"}) {
				t.Errorf("missing: got %v, want pp-demo-web", snap.Missing)
			}
			if snap.Versions["pp-demo-web"] != "1:1.0.0" {
				t.Errorf("versions: got %v", snap.Versions)
			}
			var secured string
			for _, c := range f.ran {
				if strings.Contains(c, "download") || strings.HasPrefix(c, "cp ") || strings.Contains(c, "dpkg-repack") {
					secured = c
				}
			}
			if !strings.Contains(secured, tc.last) {
				t.Errorf("last source tried: got %q, want %q", secured, tc.last)
			}
		})
	}
}

// TestPreflightSaysWhyAptNeverRan checks the problems of a preflight whose
// apt commands fail without an "E:" line, as when sudo is missing for a
// non-root controller: each names the exit status and the error output
// instead of ending in an empty reason.
func TestPreflightSaysWhyAptNeverRan(t *testing.T) {
	noSudo := patchpilot.Result{ExitCode: 127, Stderr: []byte("sudo: command not found\n")}
	f := &fakeRunner{answers: []fakeAnswer{
		{"apt-get -o DPkg::Lock::Timeout", noSudo, ""},
		{"df -B1", patchpilot.Result{Stdout: []byte("Avail\n526548992\n")}, ""},
		{"apt-cache madison", patchpilot.Result{Stdout: []byte("pp-demo-web |      1.1.0 | file:/srv/repo ./ Packages\n")}, ""},
		{"install", noSudo, ""},
		{"apt-mark showhold", patchpilot.Result{}, ""},
	}}
	pm := &PackageManager{}
	rep, err := pm.Preflight(context.Background(), f, []patchpilot.PackagePin{{Name: "pp-demo-web", Version: "1.1.0"}}, patchpilot.PreflightOptions{})
	if err != nil {
		t.Fatalf("Preflight: %v (ran %q)", err, f.ran)
	}
	want := []string{"apt-get check failed: exit status 127: sudo: command not found", "the dry run failed: exit status 127: sudo: command not found"}
	if !slices.Equal(rep.Problems, want) {
		t.Errorf("problems:\n%q\nwant\n%q\n(ran %q)", rep.Problems, want, f.ran)
	}
}

// barrierRunner holds the commands matching each of wait until all of them
// are in flight together (answering the others at once), then answers
// from its fakeRunner; one held alone for ten seconds fails.
type barrierRunner struct {
	fakeRunner
	wait []string
	mu   sync.Mutex
	seen map[string]bool
	all  chan struct{}
}

func (b *barrierRunner) Run(ctx context.Context, cmd patchpilot.Command) (patchpilot.Result, error) {
	line := cmd.String()
	if i := slices.IndexFunc(b.wait, func(w string) bool { return strings.Contains(line, w) }); i >= 0 {
		b.mu.Lock()
		if !b.seen[b.wait[i]] {
			b.seen[b.wait[i]] = true
			if len(b.seen) == len(b.wait) {
				close(b.all)
			}
		}
		b.mu.Unlock()
		select {
		case <-b.all:
		case <-time.After(10 * time.Second):
			return patchpilot.Result{}, patchpilot.Errorf(patchpilot.EUNREACHABLE, "%s ran alone", line)
		}
	}
	return b.fakeRunner.Run(ctx, cmd)
}

// The snapshot asks for the installed versions and the architectures and
// creates the artifact directory at the same time, then finds the
// artifact kept, exactly as one after another would.
func TestSnapshotReadsAtOnce(t *testing.T) {
	const dir = "/var/lib/patchpilot/artifacts"
	b := &barrierRunner{
		fakeRunner: fakeRunner{answers: []fakeAnswer{
			{"dpkg-query -W -f ${Package}", patchpilot.Result{Stdout: []byte("pp-demo-web\t1:1.0.0\tii \n")}, ""},
			{"dpkg-query -W -f ${Architecture}", patchpilot.Result{Stdout: []byte("amd64\n")}, ""},
			{"mkdir", patchpilot.Result{}, ""},
			{"dpkg-deb -f " + dir + "/pp-demo-web_1%3a1.0.0_amd64.deb", patchpilot.Result{Stdout: []byte("Package: pp-demo-web\nVersion: 1:1.0.0\n")}, ""},
		}},
		wait: []string{"${Package}", "${Architecture}", "mkdir"},
		seen: map[string]bool{},
		all:  make(chan struct{}),
	}
	plan := patchpilot.PreflightReport{Changes: []patchpilot.PackageChange{
		{Name: "pp-demo-web", From: "1:1.0.0", To: "1:1.1.0"},
		{Name: "pp-new", To: "2.0"}, // not installed: its rollback removes it
	}}
	snap, err := (&PackageManager{}).Snapshot(context.Background(), b, plan)
	if err != nil {
		t.Fatal(err)
	}
	if got := snap.Artifacts["pp-demo-web"]; got != dir+"/pp-demo-web_1%3a1.0.0_amd64.deb" {
		t.Errorf("artifact: got %q (ran %q)", got, b.ran)
	}
	if v, ok := snap.Versions["pp-new"]; !ok || v != "" || snap.Versions["pp-demo-web"] != "1:1.0.0" || len(snap.Missing) > 0 {
		t.Errorf("versions %v, missing %v; want pp-demo-web 1:1.0.0 and pp-new new", snap.Versions, snap.Missing)
	}
	for _, c := range b.ran {
		if strings.Contains(c, "download") || strings.Contains(c, "dpkg-repack") {
			t.Errorf("secured again although kept: %s", c)
		}
	}
}
