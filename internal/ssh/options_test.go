package ssh

import (
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		field string // "" when valid
	}{
		{"home only", Options{HomeDir: "/home/ops"}, ""},
		{"known hosts only", Options{KnownHostsFile: "/etc/ssh/ssh_known_hosts"}, ""},
		{"nothing to find known_hosts", Options{}, "known_hosts_file"},
		{"tilde without home", Options{KnownHostsFile: "~/.ssh/known_hosts"}, "home_dir"},
		{"key tilde without home", Options{KnownHostsFile: "/k", KeyFiles: []string{"~/.ssh/id_ed25519"}}, "home_dir"},
		{"empty key path", Options{HomeDir: "/h", KeyFiles: []string{""}}, "key_files"},
		{"agent without socket", Options{HomeDir: "/h", UseAgent: true}, "agent_socket"},
		{"agent with socket", Options{HomeDir: "/h", UseAgent: true, AgentSocket: "/run/agent.sock"}, ""},
		{"bad jump host", Options{HomeDir: "/h", JumpHost: "bastion:99999"}, "jump host"},
		{"jump host none", Options{HomeDir: "/h", JumpHost: "none"}, ""},
		{"negative connect timeout", Options{HomeDir: "/h", ConnectTimeout: -time.Second}, "connect_timeout"},
		{"negative command timeout", Options{HomeDir: "/h", CommandTimeout: -time.Second}, "command_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("got %v, want valid", err)
				}
				return
			}
			wantCode(t, err, patchpilot.EINVALID, tt.field)
		})
	}
}

func TestOptionsDefaults(t *testing.T) {
	got := Options{HomeDir: "/home/ops", KeyFiles: []string{"~/.ssh/id_ed25519", "/etc/key"}, JumpHost: "none"}.withDefaults()
	if got.KnownHostsFile != "/home/ops/.ssh/known_hosts" {
		t.Errorf("got KnownHostsFile %q", got.KnownHostsFile)
	}
	if got.KeyFiles[0] != "/home/ops/.ssh/id_ed25519" || got.KeyFiles[1] != "/etc/key" {
		t.Errorf("got KeyFiles %q", got.KeyFiles)
	}
	if got.User != DefaultUser || got.JumpHost != "" || got.Logger == nil ||
		got.ConnectTimeout != DefaultConnectTimeout || got.CommandTimeout != DefaultCommandTimeout ||
		got.KeepaliveInterval != DefaultKeepaliveInterval {
		t.Errorf("got %+v", got)
	}
}

func TestParseJumpHost(t *testing.T) {
	tests := []struct {
		spec string
		want endpoint
		ok   bool
	}{
		{"bastion", endpoint{"ops", "bastion", 22}, true},
		{"admin@bastion", endpoint{"admin", "bastion", 22}, true},
		{"admin@bastion:2222", endpoint{"admin", "bastion", 2222}, true},
		{"10.0.0.1:22", endpoint{"ops", "10.0.0.1", 22}, true},
		{"[2001:db8::1]:2222", endpoint{"ops", "2001:db8::1", 2222}, true},
		{"[2001:db8::1]", endpoint{"ops", "2001:db8::1", 22}, true},
		{"2001:db8::1", endpoint{"ops", "2001:db8::1", 22}, true},
		{"a@b@bastion", endpoint{"a@b", "bastion", 22}, true},
		{"@bastion", endpoint{}, false},
		{"bastion:", endpoint{}, false},
		{"bastion:0", endpoint{}, false},
		{"bastion:ssh", endpoint{}, false},
		{"admin@", endpoint{}, false},
		{"a,b", endpoint{}, false},
		{"[::1", endpoint{}, false},
	}
	for _, tt := range tests {
		got, err := parseJumpHost(tt.spec, "ops")
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseJumpHost(%q) = %+v, %v; want %+v, ok %v", tt.spec, got, err, tt.want, tt.ok)
		}
	}
}

func TestHostEndpoint(t *testing.T) {
	tests := []struct {
		host patchpilot.Host
		want string
		ok   bool
	}{
		{patchpilot.Host{Name: "web1"}, "ops@web1:22", true},
		{patchpilot.Host{Name: "web1", Address: "10.0.0.5", Port: 2222, User: "deploy"}, "deploy@10.0.0.5:2222", true},
		{patchpilot.Host{Name: "v6", Address: "2001:db8::5"}, "ops@[2001:db8::5]:22", true},
		{patchpilot.Host{}, "", false},
		{patchpilot.Host{Name: "web1", Port: 70000}, "", false},
	}
	for _, tt := range tests {
		got, err := hostEndpoint(tt.host, "ops")
		if (err == nil) != tt.ok || (tt.ok && got.String() != tt.want) {
			t.Errorf("hostEndpoint(%+v) = %v, %v; want %s", tt.host, got, err, tt.want)
		}
	}
}
