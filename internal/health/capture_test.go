package health_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// TestCaptureTranscripts records the outputs of the gates' commands on a
// lab host into testdata, for the parser tests. It runs only when
// PP_HEALTH_CAPTURE names the output directory.
func TestCaptureTranscripts(t *testing.T) {
	dir := os.Getenv("PP_HEALTH_CAPTURE")
	if dir == "" {
		t.Skip("set PP_HEALTH_CAPTURE=DIR to capture transcripts from a lab host")
	}
	l := sharedLab(t)
	h := l.Hosts()[0]
	r := dialLab(t, l, h)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	since := time.Now().Add(-time.Hour).Unix()
	cmds := map[string][]string{
		"systemctl-list-units-service.txt": {"systemctl", "list-units", "--type=service", "--state=active", "--plain", "--no-legend", "--no-pager"},
		"systemctl-list-units-failed.txt":  {"systemctl", "list-units", "--state=failed", "--plain", "--no-legend", "--no-pager"},
		"systemctl-show.txt":               {"systemctl", "show", "--property=Id,ActiveState,SubState,LoadState", "pp-demo-web.service", "ssh.service", "nosuch.service"},
		"systemd-analyze.txt":              {"systemd-analyze", "time"},
		"ss-Htln.txt":                      {"ss", "-Htln"},
		"proc-uptime.txt":                  {"cat", "/proc/uptime"},
		"proc-1-stat.txt":                  {"cat", "/proc/1/stat"},
		"boot-id.txt":                      {"cat", "/proc/sys/kernel/random/boot_id"},
		"getconf-clk-tck.txt":              {"getconf", "CLK_TCK"},
	}
	_, _ = r.Run(ctx, patchpilot.Command{Args: []string{"logger", "-p", "user.err", "-t", "pp-capture", "capture: disk quota exceeded"}})
	_, _ = r.Run(ctx, patchpilot.Command{Args: []string{"systemd-run", "--unit=pp-capture-fail", "/bin/false"}})
	time.Sleep(2 * time.Second)
	cmds["systemctl-list-units-failed-one.txt"] = cmds["systemctl-list-units-failed.txt"]
	cmds["journalctl-err.json"] = []string{"journalctl", "-p", "err", "--since", "@" + itoa(since), "-o", "json", "--no-pager", "-q"}
	for name, args := range cmds {
		res, err := r.Run(ctx, patchpilot.Command{Args: args})
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		out := append(res.Stdout, res.Stderr...)
		if err := os.WriteFile(filepath.Join(dir, name), out, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: exit %d, %d bytes", name, res.ExitCode, len(out))
	}
}

func itoa(n int64) string { return fmtInt(n) }
