package demoweb

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	c, err := parseConfig(strings.NewReader("# defaults\nload = 7   # per second\n\nidle_timeout=5m\n"), "demo.conf")
	if err != nil {
		t.Fatal(err)
	}
	if c.Load == nil || *c.Load != 7 || c.IdleTimeout == nil || *c.IdleTimeout != 5*time.Minute {
		t.Errorf("got load %v, idle_timeout %v; want 7 and 5m", c.Load, c.IdleTimeout)
	}
	for _, tt := range []struct{ in, want string }{
		{"load 7\n", `demo.conf:1: "load 7": want key = value`},
		{"# x\nload = -1\n", "demo.conf:2: load = \"-1\""},
		{"idle_timeout = soon\n", `demo.conf:1: idle_timeout = "soon"`},
		{"colour = blue\n", `demo.conf:1: unknown key "colour"`},
	} {
		if _, err := parseConfig(strings.NewReader(tt.in), "demo.conf"); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.in, err, tt.want)
		}
	}
	if c, err := readConfigFile(filepath.Join(t.TempDir(), "none.conf")); err != nil || c.Load != nil {
		t.Errorf("a missing file: %+v, %v; want the defaults", c, err)
	}
}

// TestMainRefusesABadConfig checks that the service does not start on a
// configuration file it cannot read, and names the line.
func TestMainRefusesABadConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pp-demo-web.conf")
	if err := os.WriteFile(p, []byte("load = 20\nload twenty\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	if code := Main([]string{"--config", p, "--listen", "127.0.0.1:0"}, &stderr); code != 1 || !strings.Contains(stderr.String(), p+":2:") {
		t.Errorf("exit %d, stderr %q; want 1 naming %s:2", code, stderr.String(), p)
	}
}
