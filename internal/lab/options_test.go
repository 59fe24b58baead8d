package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/inventory"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want patchpilot.Code
	}{
		{"zero value", Options{}, ""},
		{"twenty hosts", Options{Hosts: 20, Subnet: "127.0.9"}, ""},
		{"too many hosts", Options{Hosts: MaxHosts + 1}, patchpilot.EINVALID},
		{"negative hosts", Options{Hosts: -1}, patchpilot.EINVALID},
		{"not loopback", Options{Subnet: "10.0.0"}, patchpilot.EINVALID},
		{"four octets", Options{Subnet: "127.0.1.1"}, patchpilot.EINVALID},
		{"this machine's localhost", Options{Subnet: "127.0.0"}, patchpilot.EINVALID},
		{"octet out of range", Options{Subnet: "127.0.300"}, patchpilot.EINVALID},
		{"bad suite", Options{Suite: "Bookworm;rm"}, patchpilot.EINVALID},
		{"Prometheus address", Options{PrometheusAddress: "127.0.0.1:9290"}, ""},
		{"Prometheus address without a port", Options{PrometheusAddress: "prometheus"}, patchpilot.EINVALID},
		{"negative timeout", Options{ReadyTimeout: -1}, patchpilot.EINVALID},
		{"two-second scrapes", Options{ScrapeInterval: 2 * time.Second}, ""},
		{"sub-second scrapes", Options{ScrapeInterval: 500 * time.Millisecond}, patchpilot.EINVALID},
		{"fractional scrapes", Options{ScrapeInterval: 2500 * time.Millisecond}, patchpilot.EINVALID},
		{"hourly scrapes", Options{ScrapeInterval: time.Hour}, patchpilot.EINVALID},
		{"host packages", Options{Hosts: 2, HostPackages: map[string][]string{"lab02": {"puppet-agent", "ruby3.1"}}}, ""},
		{"host packages of a host not in the lab", Options{Hosts: 2, HostPackages: map[string][]string{"lab03": {"puppet-agent"}}}, patchpilot.EINVALID},
		{"host packages of a default-size lab", Options{HostPackages: map[string][]string{"lab04": {"puppet-agent"}}}, patchpilot.EINVALID},
		{"no host package", Options{HostPackages: map[string][]string{"lab01": nil}}, patchpilot.EINVALID},
		{"option as package", Options{HostPackages: map[string][]string{"lab01": {"--allow-unauthenticated"}}}, patchpilot.EINVALID},
		{"package with space", Options{HostPackages: map[string][]string{"lab01": {"puppet agent"}}}, patchpilot.EINVALID},
		{"default profile", Options{Profile: ProfileDefault}, ""},
		{"realistic profile", Options{Profile: ProfileRealistic, Hosts: 20}, ""},
		{"unknown profile", Options{Profile: "huge"}, patchpilot.EINVALID},
		{"realistic profile with host packages", Options{Profile: ProfileRealistic, Hosts: 2, HostPackages: map[string][]string{"lab02": {"puppet-agent"}}}, patchpilot.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := patchpilot.ErrorCode(tt.o.Validate()); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHostLabels(t *testing.T) {
	for _, n := range []int{1, 2, 3, 8, 20} {
		critical, roles := 0, map[string]int{}
		for i := 1; i <= n; i++ {
			l := hostLabels(i, n)
			roles[l[patchpilot.LabelRole]]++
			if l[patchpilot.LabelCriticality] == "critical" {
				critical++
			}
			if l[patchpilot.LabelEnv] != "lab" {
				t.Errorf("n=%d host %d: env %q, want lab", n, i, l[patchpilot.LabelEnv])
			}
		}
		if critical != 1 {
			t.Errorf("n=%d: got %d critical hosts, want 1", n, critical)
		}
		if want := min(n, 3); len(roles) != want {
			t.Errorf("n=%d: got roles %v, want %d distinct", n, roles, want)
		}
	}
	if got := hostLabels(3, 8)[patchpilot.LabelCriticality]; got != "medium" {
		t.Errorf("lab03 of 8: got %s, want medium (the last db host, lab06, is critical)", got)
	}
	if got := hostLabels(6, 8)[patchpilot.LabelCriticality]; got != "critical" {
		t.Errorf("lab06 of 8: got %s, want critical", got)
	}
}

// The inventory the lab writes must read back, through patchpilot's own
// inventory loader, as the hosts the lab reports.
func TestInventoryRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := &State{Dir: dir}
	keys := map[string]string{}
	for i := 1; i <= 4; i++ {
		s.Hosts = append(s.Hosts, HostState{Name: hostName(i), Address: "127.0.1." + string(rune('0'+i)), Labels: hostLabels(i, 4)})
		keys[hostName(i)] = "ssh-ed25519 AAAAkey" + hostName(i)
	}
	if err := writeClientFiles(s, keys); err != nil {
		t.Fatal(err)
	}
	got, err := inventory.Load(filepath.Join(dir, inventoryFile))
	if err != nil {
		t.Fatal(err)
	}
	want := (&Lab{state: s}).Hosts()
	if len(got) != len(want) {
		t.Fatalf("got %d hosts, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.Target() != w.Address || g.User != "root" || g.KeyFile != w.KeyFile || g.SSHPort() != 22 {
			t.Errorf("host %d: got %+v, want %+v", i, g, w)
		}
		for k, v := range w.Labels {
			if g.Labels[k] != v {
				t.Errorf("%s: label %s: got %q, want %q", w.Name, k, g.Labels[k], v)
			}
		}
	}
	kh, _ := os.ReadFile(filepath.Join(dir, knownHostsFile))
	if !strings.Contains(string(kh), "127.0.1.2,lab02 ssh-ed25519 AAAAkeylab02\n") {
		t.Errorf("known_hosts lacks lab02's key:\n%s", kh)
	}
}

func TestSuperviseScriptQuotes(t *testing.T) {
	s := &State{Dir: "/tmp/it's a lab", Repo: "/cache/repo-1"}
	got := superviseScript(s, HostState{Name: "lab01"}, []string{"/sys/fs/cgroup/x/cgroup.procs"})
	for _, want := range []string{
		`-D '/tmp/it'\''s a lab/hosts/lab01/root'`,
		`--bind-ro='/cache/repo-1:/srv/pp-repo'`,
		"--register=no --keep-unit -M 'lab01'",
		"echo $$ > '/sys/fs/cgroup/x/cgroup.procs' || exit 97",
		"\t133)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("script lacks %q:\n%s", want, got)
		}
	}
}

func TestPrometheusConfigScrapeInterval(t *testing.T) {
	s := &State{Hosts: []HostState{{Name: "lab01", Address: "127.0.9.1", Labels: hostLabels(1, 1)}}}
	got := prometheusConfig(s, 2*time.Second)
	if !strings.Contains(got, "scrape_interval: 2s\n") || !strings.Contains(got, "evaluation_interval: 2s\n") {
		t.Errorf("config does not scrape every 2s:\n%s", got)
	}
}
