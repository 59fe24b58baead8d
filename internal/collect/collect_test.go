package collect

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/local"
	"github.com/patchpilot/patchpilot/internal/osfamily"
	"github.com/patchpilot/patchpilot/internal/osfamily/debian"
)

// needDebian skips tests that collect from this machine when it is not a
// Debian-family host with dpkg.
func needDebian(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("dpkg-query not available: these tests collect from a Debian-family machine")
	}
}

func command(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).Output()
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

func TestHostLocal(t *testing.T) {
	needDebian(t)
	at := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	f, err := Host(context.Background(), local.New(), "controller", Options{Source: "local", Now: func() time.Time { return at }})
	if err != nil {
		t.Fatalf("Host: %v", err)
	}
	// The acceptance check: as many packages as "dpkg-query -W | wc -l".
	wantCount := strings.Count(command(t, "dpkg-query", "-W"), "\n")
	if len(f.Packages) != wantCount || !f.PackagesKnown {
		t.Errorf("packages: got %d (known %v), want %d as dpkg-query -W lists", len(f.Packages), f.PackagesKnown, wantCount)
	}
	if want := strings.TrimSpace(command(t, "uname", "-r")); f.Kernel != want {
		t.Errorf("kernel = %q, want %q", f.Kernel, want)
	}
	if want := strings.TrimSpace(command(t, "uname", "-m")); f.Arch != want {
		t.Errorf("arch = %q, want %q", f.Arch, want)
	}
	bootID, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if f.BootID != strings.TrimSpace(string(bootID)) || f.BootID == "" {
		t.Errorf("boot id = %q, want %q", f.BootID, bootID)
	}
	if f.Host != "controller" || f.Source != "local" || !f.CollectedAt.Equal(at) || f.OSFamily != patchpilot.FamilyDebian || !f.UpdatesKnown {
		t.Errorf("got host %q source %q at %v family %s updates known %v", f.Host, f.Source, f.CollectedAt, f.OSFamily, f.UpdatesKnown)
	}
	// In depth, every running service has its main process (read from
	// the cgroups, or systemctl where there are none) and is among the
	// running services.
	if f.Depth != nil {
		for _, s := range f.Depth.Services {
			if s.MainPID <= 0 || !slices.Contains(f.Services, s.Unit) {
				t.Errorf("service in depth %+v: want a main process, and the unit among the running services %v", s, f.Services)
			}
		}
	}
	// Every pending update names a package that is installed here, or
	// is new (no installed version).
	installed := map[string]string{}
	for _, p := range f.Packages {
		installed[p.Name+"/"+p.Arch] = p.Version
	}
	for _, u := range f.Updates {
		if u.InstalledVersion != "" && installed[u.Package+"/"+u.Arch] != u.InstalledVersion {
			t.Errorf("update %s/%s from %s: installed version is %q", u.Package, u.Arch, u.InstalledVersion, installed[u.Package+"/"+u.Arch])
		}
	}
}

func TestCaptureLocal(t *testing.T) {
	needDebian(t)
	dir := filepath.Join(t.TempDir(), "capture")
	// TestHostLocal runs the real apt simulation already; this one reads
	// its recorded output to stay fast (see countedRunner).
	r := &countedRunner{d: &countingDialer{}, r: local.New()}
	if err := Capture(context.Background(), r, dir); err != nil {
		t.Fatalf("Capture: %v", err)
	}
	for _, name := range []string{"files.out", "uname.out", "packages.out", "updates.out", "depth.out", "commands.txt"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("capture lacks %s: %v", name, err)
		}
	}
	tr, err := osfamily.ReadTranscript(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(tr)
	if err != nil {
		t.Fatalf("Parse of the capture: %v", err)
	}
	if want := strings.Count(command(t, "dpkg-query", "-W"), "\n"); len(f.Packages) != want {
		t.Errorf("packages from the capture: got %d, want %d", len(f.Packages), want)
	}
}

// replay is a Runner that answers each command with the output recorded
// for it in a transcript directory's commands.txt. It stands in for the
// RHEL and SUSE hosts that the build machine cannot reach.
type replay struct {
	byCmd map[string]patchpilot.Result
}

func newReplay(t *testing.T, dir string) *replay {
	t.Helper()
	tr, err := osfamily.ReadTranscript(dir)
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := os.ReadFile(filepath.Join(dir, "commands.txt"))
	if err != nil {
		t.Fatal(err)
	}
	r := &replay{byCmd: map[string]patchpilot.Result{}}
	sc := bufio.NewScanner(bytes.NewReader(cmds))
	for sc.Scan() {
		name, cmd, _ := strings.Cut(sc.Text(), ": ")
		r.byCmd[cmd] = tr[name]
	}
	return r
}

func (r *replay) Run(ctx context.Context, cmd patchpilot.Command) (patchpilot.Result, error) {
	res, ok := r.byCmd[cmd.String()]
	if !ok {
		return patchpilot.Result{ExitCode: 127, Stderr: []byte(cmd.Args[0] + ": command not found")}, nil
	}
	return res, nil
}

func (r *replay) Close() error { return nil }

func TestHostOtherFamilies(t *testing.T) {
	tests := []struct {
		dir      string
		family   patchpilot.OSFamily
		packages int
		updates  int
		security int
	}{
		{"../osfamily/redhat/testdata/rocky94-crafted", patchpilot.FamilyRedHat, 15, 11, 7},
		{"../osfamily/suse/testdata/sles15sp5-crafted", patchpilot.FamilySUSE, 7, 4, 3},
		{"../osfamily/debian/testdata/ubuntu2204-crafted", patchpilot.FamilyDebian, 12, 6, 3},
	}
	for _, tt := range tests {
		f, err := Host(context.Background(), newReplay(t, tt.dir), "h", Options{})
		if err != nil {
			t.Errorf("%s: %v", tt.dir, err)
			continue
		}
		if f.OSFamily != tt.family || len(f.Packages) != tt.packages || len(f.Updates) != tt.updates || f.SecurityUpdateCount() != tt.security || f.Source != DefaultSource {
			t.Errorf("%s: got %s, %d packages, %d updates, %d security, source %q; want %s, %d, %d, %d, %q",
				tt.dir, f.OSFamily, len(f.Packages), len(f.Updates), f.SecurityUpdateCount(), f.Source, tt.family, tt.packages, tt.updates, tt.security, DefaultSource)
		}
	}
}

// stepReplay answers each command of a family's steps with what the step
// printed in a transcript, by step name (the depth scripts span several
// lines of commands.txt), and records the steps asked for.
type stepReplay struct {
	t      osfamily.Transcript
	byCmd  map[string]string
	called []string
}

func newStepReplay(t *testing.T, dir string, steps []osfamily.Step) *stepReplay {
	t.Helper()
	tr, err := osfamily.ReadTranscript(dir)
	if err != nil {
		t.Fatal(err)
	}
	r := &stepReplay{t: tr, byCmd: map[string]string{}}
	for _, s := range append(osfamily.ProbeSteps(), steps...) {
		r.byCmd[s.Cmd.String()] = s.Name
	}
	return r
}

func (r *stepReplay) Run(ctx context.Context, cmd patchpilot.Command) (patchpilot.Result, error) {
	name, ok := r.byCmd[cmd.String()]
	res, found := r.t[name]
	if !ok || !found {
		return patchpilot.Result{ExitCode: 127, Stderr: []byte(cmd.Args[0] + ": command not found")}, nil
	}
	r.called = append(r.called, name)
	return res, nil
}

func (r *stepReplay) Close() error { return nil }

// TestHostDepth collects a lab host's transcript in depth, and again with
// SkipDepth, which runs none of the depth steps and leaves Depth nil.
func TestHostDepth(t *testing.T) {
	dir := "../osfamily/debian/testdata/debian12-lab-depth"
	r := newStepReplay(t, dir, debian.Steps(osfamily.Options{Depth: true}))
	f, err := Host(context.Background(), r, "lab01", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Depth == nil || len(f.Depth.Services) == 0 || len(f.Depth.Connections) == 0 || len(f.Depth.Modified) == 0 {
		t.Fatalf("depth %+v, want services, connections and modified files", f.Depth)
	}
	if len(f.Services) == 0 {
		t.Error("no running services: the depth step lists them")
	}
	r = newStepReplay(t, dir, debian.Steps(osfamily.Options{}))
	r.t[osfamily.StepServices] = patchpilot.Result{Stdout: []byte("ssh.service loaded active running OpenBSD Secure Shell server\n")}
	f, err = Host(context.Background(), r, "lab01", Options{SkipDepth: true})
	if err != nil {
		t.Fatal(err)
	}
	if f.Depth != nil {
		t.Errorf("depth %+v with SkipDepth, want nil", f.Depth)
	}
	for _, name := range r.called {
		if strings.HasPrefix(name, "depth") {
			t.Errorf("step %s ran with SkipDepth", name)
		}
	}
	if !slices.Equal(f.Services, []string{"ssh.service"}) {
		t.Errorf("services %v, want the services step's", f.Services)
	}
}

func TestHostUnsupported(t *testing.T) {
	r := &replay{byCmd: map[string]patchpilot.Result{
		strings.Join(osfamily.ProbeSteps()[0].Cmd.Args, " "): {Stdout: []byte("==> /etc/os-release <==\nID=plan9\nID_LIKE=\"bell-labs\"\n")},
		"uname -n -r -m": {Stdout: []byte("cpu 4e x86_64\n")},
	}}
	_, err := Host(context.Background(), r, "h", Options{})
	if patchpilot.ErrorCode(err) != patchpilot.EUNSUPPORTED || !strings.Contains(err.Error(), `"plan9"`) {
		t.Errorf("error %v, want %s naming plan9", err, patchpilot.EUNSUPPORTED)
	}
}

// TestHostCarriesAnUnchangedPolicy collects this machine twice in depth,
// the second time with the first's depth as the previous one: the host
// finds its package database unchanged since and does not read apt's
// policy again, and the pinned and foreign packages are the first
// collection's. (Should the package database change in between, the
// policy is read again, which is also right.)
func TestHostCarriesAnUnchangedPolicy(t *testing.T) {
	needDebian(t)
	first, err := Host(context.Background(), local.New(), "controller", Options{Source: "local"})
	if err != nil {
		t.Fatal(err)
	}
	if first.Depth == nil || first.Depth.PolicyClock == 0 {
		t.Skipf("this machine's depth has no policy clock (missing: %v)", first.Depth)
	}
	statusBefore, _ := os.Stat("/var/lib/dpkg/status")
	prev := *first.Depth
	prev.Foreign = append(slices.Clone(prev.Foreign), patchpilot.ForeignPackage{Name: "pp-marker", Version: "1", Relation: patchpilot.ForeignNoCandidate})
	second, err := Host(context.Background(), local.New(), "controller", Options{Source: "local",
		PreviousDepth: func(host string) *patchpilot.HostDepth {
			if host != "controller" {
				t.Errorf("previous depth asked for %q", host)
			}
			return &prev
		}})
	if err != nil {
		t.Fatal(err)
	}
	d := second.Depth
	if statusAfter, _ := os.Stat("/var/lib/dpkg/status"); !statusAfter.ModTime().Equal(statusBefore.ModTime()) {
		t.Skip("the package database changed during the test")
	}
	if d.PolicyUnchanged {
		t.Error("PolicyUnchanged left set: the collector must resolve it")
	}
	if !slices.Equal(d.Foreign, prev.Foreign) || !slices.Equal(d.Pinned, prev.Pinned) || d.PolicyClock < prev.PolicyClock {
		t.Errorf("foreign %v pinned %v clock %d; want the previous depth's carried over (%d foreign, clock at least %d)",
			len(d.Foreign), d.Pinned, d.PolicyClock, len(prev.Foreign), prev.PolicyClock)
	}
}

func TestCarryPolicyWithoutAPreviousClock(t *testing.T) {
	d := &patchpilot.HostDepth{PolicyUnchanged: true, PolicyClock: 5}
	carryPolicy(d, nil)
	if d.PolicyUnchanged || d.PolicyClock != 0 || len(d.Missing) != 1 {
		t.Errorf("depth %+v: want the policy reported as not read", d)
	}
}
