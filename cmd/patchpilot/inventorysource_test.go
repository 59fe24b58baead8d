package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestInventorySourceHTTP: 'inventory sources' lists the configured
// sources, '--hosts' reads one without changing anything, and 'collect
// --source' stores the hosts it reads (with their labels) and collects
// their facts over SSH: here from unreachable addresses, so each host
// fails and is reported by name, and --limit keeps the others out.
func TestInventorySourceHTTP(t *testing.T) {
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = append(auth, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"hosts": [{"name": "web1", "address": "127.0.0.1", "port": 1, "labels": {"env": "prod"}},
			{"name": "db1", "address": "127.0.0.1", "port": 1, "user": "ops", "labels": {"env": "staging", "role": "db"}},
			{"name": "app1"}]}`)
	}))
	defer srv.Close()
	e := newEnv(t)
	e.vars = append(e.vars, "FLEET_TOKEN=tok-123")
	cfg := filepath.Join(e.home, "config", "patchpilot", "patchpilot.yaml")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o755); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`integrations:
  services:
    - name: fleet
      type: http_inventory
      url: %s/v1/hosts
      token: {env: FLEET_TOKEN}
`, srv.URL)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	srcs := decodeJSON[[]map[string]string](t, e.mustRun("inventory", "sources", "-o", "json"))
	if len(srcs) != 1 || srcs[0]["name"] != "fleet" || srcs[0]["type"] != "http_inventory" {
		t.Errorf("sources %v", srcs)
	}
	out := e.mustRun("inventory", "sources", "fleet", "--hosts")
	if !strings.Contains(out, "web1") || !strings.Contains(out, "db1") || !strings.Contains(out, "env=staging,role=db") {
		t.Errorf("sources fleet --hosts:\n%s", out)
	}
	// The address shown is the one dialled (the name when the source
	// gives none), with its port (22 when the source gives none).
	if !regexp.MustCompile(`(?m)^NAME +ADDRESS +PORT +LABELS$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^web1 +127\.0\.0\.1 +1 +env=prod$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^app1 +app1 +22 *$`).MatchString(out) {
		t.Errorf("sources fleet --hosts: want the address and port of each host:\n%s", out)
	}
	if len(auth) != 1 || auth[0] != "GET /v1/hosts Bearer tok-123" {
		t.Errorf("requests %q", auth)
	}
	r := e.run("inventory", "collect", "--source", "fleet", "--limit", "web1", "--connect-timeout", "2s", "-o", "json")
	if r.code == 0 || !strings.Contains(r.stdout, `"host": "web1"`) || strings.Contains(r.stdout, "db1") {
		t.Fatalf("collect --source of one unreachable host: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	show := e.mustRun("hosts", "show", "web1", "-o", "json")
	if !strings.Contains(show, `"env": "prod"`) {
		t.Errorf("hosts show web1 after collect --source:\n%s", show)
	}
	r = e.run("inventory", "collect", "--source", "nosuch")
	if r.code == 0 || !strings.Contains(r.stderr, `no inventory source named "nosuch"`) || !strings.Contains(r.stderr, "the inventory sources are: fleet") {
		t.Errorf("unknown source: exit %d\n%s", r.code, r.stderr)
	}
	r = e.run("inventory", "collect", "--source", "fleet", "-i", "x.ini")
	if r.code == 0 || !strings.Contains(r.stderr, "give one of -i INVENTORY, --source NAME or --local") {
		t.Errorf("two sources: exit %d\n%s", r.code, r.stderr)
	}
}
