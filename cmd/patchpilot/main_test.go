package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// binary is the patchpilot binary the end-to-end tests run, built once by
// TestMain from this package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "patchpilot-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "patchpilot")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		panic("build patchpilot: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is a private environment for one test: its own database, config
// and home, so tests never touch the user's files or each other's.
type env struct {
	t    *testing.T
	home string
	vars []string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	home := t.TempDir()
	return &env{t: t, home: home, vars: []string{
		"HOME=" + home,
		"XDG_DATA_HOME=" + filepath.Join(home, "data"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"PATH=" + os.Getenv("PATH"),
		"USER=root",
	}}
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs the real binary and returns its output and exit code.
func (e *env) run(args ...string) result {
	e.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = e.vars
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			e.t.Fatalf("run %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return result{stdout.String(), stderr.String(), code}
}

// mustRun runs the binary and fails the test unless it exits 0.
func (e *env) mustRun(args ...string) string {
	e.t.Helper()
	r := e.run(args...)
	if r.code != 0 {
		e.t.Fatalf("patchpilot %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode JSON: %v\n%s", err, s)
	}
	return v
}

func TestVersion(t *testing.T) {
	e := newEnv(t)
	out := e.mustRun("version", "-o", "json")
	v := decodeJSON[map[string]string](t, out)
	if v["version"] == "" || !strings.HasPrefix(v["go_version"], "go") {
		t.Errorf("version -o json = %v, want version and go_version", v)
	}
}

func TestUsageErrors(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		args     []string
		wantCode int
		wantErr  string
	}{
		{[]string{"no-such-command"}, 2, "unknown command"},
		{[]string{"hosts", "--no-such-flag"}, 2, "unknown flag"},
		{[]string{"hosts", "-o", "xml"}, 2, `--output "xml": expected table, json or yaml`},
		{[]string{"hosts", "-o", "jsno"}, 2, `--output "jsno": expected table, json or yaml; did you mean json?`},
		{[]string{"rollout", "status", "nosuch"}, 4, "error: rollout \"nosuch\" not found\n"},
		{[]string{"inventory", "collect"}, 2, "give one of -i INVENTORY, --source NAME or --local"},
		{[]string{"inventory", "collect", "-i", "x.ini", "--local"}, 2, "give one of -i INVENTORY, --source NAME or --local, not -i and --local together"},
		{[]string{"inventory", "collect", "-i", "../../internal/inventory/testdata/bad/port.ini"}, 2, "port.ini:"},
		{[]string{"inventory", "collect", "-i", "/nonexistent/inventory.ini"}, 4, "/nonexistent/inventory.ini"},
		{[]string{"inventory", "import-facts", "../../internal/inventory/testdata/facts-bad"}, 2, "facts-bad"},
		{[]string{"advisories", "import", "../../internal/osv/testdata/malformed/USN-1-syntax.json"}, 2, "USN-1-syntax.json:5:"},
		{[]string{"hosts", "show", "nosuchhost"}, 4, "nosuchhost"},
		{[]string{"updates", "--host", "nosuchhost"}, 4, "nosuchhost"},
		{[]string{"hosts", "show"}, 2, "expects one host NAME"},
		{[]string{"inventory", "collect", "--local", "--concurrency", "0"}, 2, "--concurrency 0"},
		{[]string{"history", "--host", "nosuchhost"}, 4, `host "nosuchhost": no such host`},
		{[]string{"history", "--rollout", "r-none"}, 4, `rollout "r-none": no such rollout`},
		{[]string{"inventory", "capture", "--host", "nosuchhost", "-i", "../../internal/inventory/testdata/ini/inventory.ini", "--out", "x"}, 4, `--host "nosuchhost"`},
	}
	for _, tt := range tests {
		r := e.run(tt.args...)
		if r.code != tt.wantCode || !strings.Contains(r.stderr, tt.wantErr) {
			t.Errorf("patchpilot %s: exit %d, stderr %q; want exit %d and %q",
				strings.Join(tt.args, " "), r.code, r.stderr, tt.wantCode, tt.wantErr)
		}
		if strings.Contains(r.stderr, "panic") {
			t.Errorf("patchpilot %s panicked:\n%s", strings.Join(tt.args, " "), r.stderr)
		}
	}
}

func TestConfigFileAndEnvironment(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "custom", "fleet.db")
	cfgDir := filepath.Join(e.home, "config", "patchpilot")
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "patchpilot.yaml"), []byte("db: "+db+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A command that stores data creates the database where configured;
	// one that only reads never creates it.
	e.mustRun("inventory", "prune")
	if _, err := os.Stat(db); err != nil {
		t.Errorf("config db %s not used: %v", db, err)
	}
	envDB := filepath.Join(e.home, "env.db")
	e.vars = append(e.vars, "PATCHPILOT_DB="+envDB)
	e.mustRun("inventory", "prune")
	if _, err := os.Stat(envDB); err != nil {
		t.Errorf("PATCHPILOT_DB %s not used: %v", envDB, err)
	}
	flagDB := filepath.Join(e.home, "flag.db")
	e.mustRun("inventory", "prune", "--db", flagDB)
	if _, err := os.Stat(flagDB); err != nil {
		t.Errorf("--db %s not used: %v", flagDB, err)
	}

	if err := os.WriteFile(filepath.Join(cfgDir, "patchpilot.yaml"), []byte("datbase: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := e.run("hosts"); r.code != 2 || !strings.Contains(r.stderr, "patchpilot.yaml") || !strings.Contains(r.stderr, "datbase") {
		t.Errorf("bad config: exit %d, stderr %q; want exit 2 naming the file and field", r.code, r.stderr)
	}
}
