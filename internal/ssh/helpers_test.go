package ssh

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/ssh/sshtest"
)

// testOptions returns options that trust srv's host key and log into it.
func testOptions(t *testing.T, srv *sshtest.Server) Options {
	t.Helper()
	return Options{
		HomeDir:        t.TempDir(),
		KnownHostsFile: srv.KnownHostsFile,
		User:           srv.User,
		ConnectTimeout: 15 * time.Second, // generous: a busy test machine is slow, not broken
		Logger:         testLogger(t, nil),
	}
}

// testLogger logs into buf when it is not nil, else nowhere.
func testLogger(t *testing.T, buf *syncBuffer) *slog.Logger {
	if buf == nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func mustDialer(t *testing.T, o Options) *Dialer {
	t.Helper()
	d, err := NewDialer(o)
	if err != nil {
		t.Fatalf("NewDialer: %v", err)
	}
	return d
}

func mustDial(t *testing.T, d *Dialer, h patchpilot.Host) patchpilot.Runner {
	t.Helper()
	r, err := d.Dial(context.Background(), h)
	if err != nil {
		t.Fatalf("Dial %s: %v", h.Name, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func run(t *testing.T, r patchpilot.Runner, args ...string) patchpilot.Result {
	t.Helper()
	res, err := r.Run(context.Background(), patchpilot.Command{Args: args, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("Run %q: %v", args, err)
	}
	return res
}

// wantCode fails the test unless err is a *patchpilot.Error of code whose
// message contains every one of parts.
func wantCode(t *testing.T, err error, code patchpilot.Code, parts ...string) {
	t.Helper()
	var pe *patchpilot.Error
	if !errors.As(err, &pe) {
		t.Fatalf("got error %v (%T), want a *patchpilot.Error with code %s", err, err, code)
	}
	if pe.Code != code {
		t.Fatalf("got code %s (%v), want %s", pe.Code, err, code)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

// keygen makes a key pair with ssh-keygen and returns the private key path.
func keygen(t *testing.T, typ, passphrase string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "id_"+typ)
	args := []string{"-q", "-t", typ, "-N", passphrase, "-C", "test", "-f", path}
	if typ == "rsa" {
		args = append(args, "-b", "2048") // the default 3072 bits take seconds to generate
	}
	out, err := exec.Command("ssh-keygen", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	return path
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(data)
}
