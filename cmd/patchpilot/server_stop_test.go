package main

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServerSaysItStopped: a server asked to stop (SIGINT as Ctrl-C
// sends, SIGTERM as systemctl stop does) exits 0 and says that it
// stopped and what becomes of the rollouts it drove, rather than ending
// without a word.
func TestServerSaysItStopped(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			e := newEnv(t)
			srv := e.background("--db", filepath.Join(e.home, "pp.db"), "server", "--listen", "127.0.0.1:0")
			serverURL(t, srv)
			_ = srv.cmd.Process.Signal(sig)
			select {
			case <-srv.done:
			case <-time.After(2 * time.Minute):
				t.Fatalf("the server did not stop after %s:\n%s", sig, srv.stderrText())
			}
			if srv.code != 0 {
				t.Errorf("exit %d after %s, want 0:\n%s", srv.code, sig, srv.stderrText())
			}
			if !strings.Contains(srv.stderrText(), "stopped: asked to stop; the rollouts it was driving carry on when a server starts again") {
				t.Errorf("stderr after %s says nothing of the stop:\n%s", sig, srv.stderrText())
			}
		})
	}
}
