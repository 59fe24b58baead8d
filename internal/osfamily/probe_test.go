package osfamily

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

func TestParseFiles(t *testing.T) {
	paths := []string{"/a", "/b", "/c", "/d"}
	tests := []struct {
		name string
		out  string
		want map[string][]byte
	}{
		{"all present", "==> /a <==\nA=1\n\n==> /b <==\nb\n\n==> /c <==\n\n==> /d <==\nd\n",
			map[string][]byte{"/a": []byte("A=1\n"), "/b": []byte("b\n"), "/c": {}, "/d": []byte("d\n")}},
		{"missing and no final newline", "==> /b <==\nb\n\n==> /d <==\nno newline",
			map[string][]byte{"/b": []byte("b\n"), "/d": []byte("no newline")}},
		{"content without newline before next", "==> /a <==\nx\n==> /b <==\ny\n",
			map[string][]byte{"/a": []byte("x"), "/b": []byte("y\n")}},
		// A header for a path already passed, or not requested, is content.
		{"fake headers", "==> /b <==\n==> /a <==\n==> /etc/shadow <==\n",
			map[string][]byte{"/b": []byte("==> /a <==\n==> /etc/shadow <==\n")}},
		{"empty", "", map[string][]byte{}},
	}
	for _, tt := range tests {
		if got := ParseFiles([]byte(tt.out), paths); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\ngot  %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

func TestParseOSRelease(t *testing.T) {
	tests := []struct {
		in      string
		want    OSRelease
		wantErr bool
	}{
		{"# comment\nID=rocky\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\nPRETTY_NAME=\"Rocky Linux 9.4 (Blue Onyx)\"\n",
			OSRelease{ID: "rocky", IDLike: []string{"rhel", "centos", "fedora"}, VersionID: "9.4", PrettyName: "Rocky Linux 9.4 (Blue Onyx)"}, false},
		{"ID='opensuse-leap'\nVERSION_ID=\"15.5\"\nPRETTY_NAME=\"openSUSE Leap 15.5\"\n",
			OSRelease{ID: "opensuse-leap", VersionID: "15.5", PrettyName: "openSUSE Leap 15.5"}, false},
		{"ID=debian\nPRETTY_NAME=\"A \\\"quoted\\\" name\"\n", OSRelease{ID: "debian", PrettyName: `A "quoted" name`}, false},
		{"NAME=x\n", OSRelease{}, true},
		{"ID=x\ngarbage line\n", OSRelease{}, true},
	}
	for _, tt := range tests {
		got, err := ParseOSRelease([]byte(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("%q: error %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q:\ngot  %+v\nwant %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseProbe(t *testing.T) {
	tr := Transcript{
		StepFiles: {ExitCode: 1, Stdout: []byte("==> /usr/lib/os-release <==\nID=almalinux\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.4\"\n\n==> /proc/sys/kernel/random/boot_id <==\nabc\n")},
		StepUname: {Stdout: []byte("db-1 5.14.0-427.13.1.el9_4.x86_64 x86_64\n")},
	}
	p, err := ParseProbe(tr)
	if err != nil {
		t.Fatal(err)
	}
	want := patchpilot.Facts{Hostname: "db-1", OSFamily: patchpilot.FamilyRedHat, OSName: "almalinux", OSVersion: "9.4",
		Kernel: "5.14.0-427.13.1.el9_4.x86_64", Arch: "x86_64", BootID: "abc"}
	if got := p.Facts(); !reflect.DeepEqual(got, want) {
		t.Errorf("facts:\ngot  %+v\nwant %+v", got, want)
	}

	tr[StepFiles] = patchpilot.Result{ExitCode: 1}
	if _, err := ParseProbe(tr); patchpilot.ErrorCode(err) != patchpilot.EUNSUPPORTED {
		t.Errorf("no os-release: error %v, want %s", err, patchpilot.EUNSUPPORTED)
	}
	tr[StepFiles] = patchpilot.Result{Stdout: []byte("==> /etc/os-release <==\nID=debian\n")}
	tr[StepUname] = patchpilot.Result{Stdout: []byte("only two\n")}
	if _, err := ParseProbe(tr); patchpilot.ErrorCode(err) != patchpilot.EINVALID {
		t.Errorf("bad uname: error %v, want %s", err, patchpilot.EINVALID)
	}
}

func TestParseServices(t *testing.T) {
	out := "cron.service loaded active running Regular background program processing daemon\n● bad.service loaded failed failed Bad\nnot-a-service.socket loaded active running x\n.service\n\n"
	got := ParseServices([]byte(out))
	if want := []string{"cron.service", "bad.service"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	tr := Transcript{StepServices: {ExitCode: 1, Stderr: []byte("System has not been booted with systemd")}}
	if got := Services(tr); got != nil {
		t.Errorf("failed systemctl: got %q, want none", got)
	}
}

func TestTranscriptRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "host")
	steps := []Step{
		{Name: "a", Cmd: patchpilot.Command{Args: []string{"echo", "a"}}},
		{Name: "b", Cmd: patchpilot.Command{Args: []string{"false"}}},
		{Name: "c", Cmd: patchpilot.Command{Args: []string{"never-ran"}}},
	}
	want := Transcript{
		"a": {Stdout: []byte("a\n")},
		"b": {Stdout: []byte{}, Stderr: []byte("boom\n"), ExitCode: 100},
	}
	if err := WriteTranscript(dir, steps, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadTranscript(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	cmds, _ := os.ReadFile(filepath.Join(dir, "commands.txt"))
	if string(cmds) != "a: echo a\nb: false\n" {
		t.Errorf("commands.txt = %q", cmds)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.exit"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTranscript(dir); patchpilot.ErrorCode(err) != patchpilot.EINVALID {
		t.Errorf("bad exit file: error %v, want %s", err, patchpilot.EINVALID)
	}
}

// fakeRunner records how many commands ran at once.
type fakeRunner struct {
	inFlight, max atomic.Int32
	mu            sync.Mutex
	order         []string
	fail          string
}

func (r *fakeRunner) Run(ctx context.Context, cmd patchpilot.Command) (patchpilot.Result, error) {
	n := r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	for {
		m := r.max.Load()
		if n <= m || r.max.CompareAndSwap(m, n) {
			break
		}
	}
	r.mu.Lock()
	r.order = append(r.order, cmd.Args[0])
	r.mu.Unlock()
	time.Sleep(50 * time.Millisecond)
	if cmd.Args[0] == r.fail {
		return patchpilot.Result{}, patchpilot.Errorf(patchpilot.EUNREACHABLE, "connection lost")
	}
	return patchpilot.Result{Stdout: []byte(cmd.Args[0])}, nil
}

func (r *fakeRunner) Close() error { return nil }

func TestRunConcurrentAfterFirst(t *testing.T) {
	steps := []Step{
		{Name: "refresh", First: true, Cmd: patchpilot.Command{Args: []string{"refresh"}}},
		{Name: "x", Cmd: patchpilot.Command{Args: []string{"x"}}},
		{Name: "y", Cmd: patchpilot.Command{Args: []string{"y"}}},
		{Name: "z", Cmd: patchpilot.Command{Args: []string{"z"}}},
	}
	r := &fakeRunner{}
	tr, err := Run(context.Background(), r, steps)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr) != 4 || string(tr["y"].Stdout) != "y" {
		t.Errorf("transcript = %+v", tr)
	}
	if r.order[0] != "refresh" {
		t.Errorf("first command = %s, want refresh", r.order[0])
	}
	if got := r.max.Load(); got != 3 {
		t.Errorf("max in flight = %d, want 3 (all steps after the first at once)", got)
	}

	r = &fakeRunner{fail: "y"}
	_, err = Run(context.Background(), r, steps)
	var pe *patchpilot.Error
	if !errors.As(err, &pe) || pe.Code != patchpilot.EUNREACHABLE || pe.Message != "collect y: connection lost" {
		t.Errorf("error = %v, want EUNREACHABLE naming step y", err)
	}
}
