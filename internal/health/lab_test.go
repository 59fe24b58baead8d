package health_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/lab"
	"github.com/patchpilot/patchpilot/internal/lab/labtest"
	"github.com/patchpilot/patchpilot/internal/ssh"
)

// The lab tests share one lab on their own subnet and Prometheus port, so
// that other packages' labs can run beside them.
const (
	labSubnet     = "127.0.5"
	labPrometheus = "127.0.0.1:9195"
	labHosts      = 2
)

var shared struct {
	once    sync.Once
	lab     *lab.Lab
	dir     string
	err     error
	release func() // the machine-wide lab lock, held while the lab is up
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" && os.Getenv("PP_HEALTH_KEEP_LAB") == "" {
		if err := lab.Down(context.Background(), shared.dir, nil); err != nil {
			fmt.Fprintln(os.Stderr, "lab down:", err)
			code = 1
		}
		os.RemoveAll(shared.dir)
	}
	if shared.release != nil {
		shared.release()
	}
	os.Exit(code)
}

// sharedLab starts the shared lab once, under the machine-wide lab lock,
// or skips under -short and where a lab cannot run (not root, tools
// missing) unless CI=true.
func sharedLab(t *testing.T) *lab.Lab {
	t.Helper()
	labtest.Require(t, func() error { return lab.CheckHost(true) })
	shared.once.Do(func() {
		if shared.release, shared.err = labtest.LockShared(t); shared.err != nil {
			return
		}
		shared.dir = os.Getenv("PP_HEALTH_LAB_DIR")
		if shared.dir == "" {
			shared.dir, shared.err = os.MkdirTemp("", "pp-health-lab-")
			if shared.err != nil {
				return
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		shared.lab, shared.err = lab.Up(ctx, lab.Options{Dir: shared.dir, Hosts: labHosts, Subnet: labSubnet,
			Prometheus: true, PrometheusAddress: labPrometheus,
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	})
	if shared.err != nil {
		t.Fatalf("lab up: %v", shared.err)
	}
	return shared.lab
}

// dialLab logs into a lab host over SSH with strict host keys.
func dialLab(t *testing.T, l *lab.Lab, h patchpilot.Host) patchpilot.Runner {
	t.Helper()
	d, err := ssh.NewDialer(ssh.Options{KnownHostsFile: l.KnownHostsFile(), KeyFiles: []string{l.KeyFile()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := d.Dial(ctx, h)
	if err != nil {
		t.Fatalf("dial %s: %v", h.Name, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
