package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The demo checks its addresses before it starts anything: a subnet the
// lab cannot take, or a Prometheus address that is no host:port, exits 2
// naming the flag, with nothing narrated and no directory made. (Each
// case has a bad subnet, so that no lab boots whatever the checks.)
func TestDemoRefusesBadAddressesBeforeStarting(t *testing.T) {
	requireRoot(t)
	e := newEnv(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--subnet", "127.0.70.1"}, `error: --subnet: "127.0.70.1" is not three octets of a loopback address`},
		{[]string{"--subnet", "127.0.70.1", "--prometheus-address", "prometheus"}, `error: --prometheus-address "prometheus": expected host:port`},
	} {
		dir := filepath.Join(t.TempDir(), "demo")
		args := append([]string{"demo", "--dir", dir, "--listen", demoTestListen, "--prometheus-address", demoTestPrometheus}, tt.args...)
		r := e.run(args...)
		if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("demo %s: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 2, nothing on stdout and %q", strings.Join(tt.args, " "), r.code, r.stdout, r.stderr, tt.want)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("demo %s made %s", strings.Join(tt.args, " "), dir)
		}
	}
}
