package main

import (
	"bytes"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// requireRoot skips a test that needs root to switch users, except in CI,
// where a skipped test would hide that it never ran.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test runs commands as another user and needs root; CI must run it as root")
		}
		t.Skip("needs root to run commands as another user")
	}
}

// runAsNobody runs the patchpilot binary at bin as the unprivileged user
// nobody, for whom file modes are enforced as they are for any user.
func (e *env) runAsNobody(bin string, args ...string) result {
	e.t.Helper()
	cmd := exec.Command("setpriv", append([]string{"--reuid=nobody", "--regid=nogroup", "--clear-groups", bin}, args...)...)
	cmd.Env = e.vars
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			e.t.Fatalf("setpriv %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return result{stdout.String(), stderr.String(), code}
}

// TestReadingCommandsOnReadOnlyDatabase seeds a database as root, makes it
// and its folder read-only, and runs every reading command on it as nobody:
// each works, and none leaves a file beside the database.
func TestReadingCommandsOnReadOnlyDatabase(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) not installed")
	}
	e := newEnv(t)
	// nobody must reach the binary, the database and the test data, and
	// read its own (missing) config: open up the temporary tree.
	top, err := os.MkdirTemp("", "patchpilot-ro-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(top, "ro"), 0o755); os.RemoveAll(top) })
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(top, "patchpilot")
	data, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	e.vars = append(e.vars, "HOME="+top, "XDG_CONFIG_HOME="+filepath.Join(top, "config"))
	facts, err := filepath.Abs("../../internal/inventory/testdata/factcache")
	if err != nil {
		t.Fatal(err)
	}

	for _, mode := range []struct {
		name    string
		dirMode os.FileMode
	}{
		{"read-only folder", 0o555},
		// A folder nobody may write to, as /tmp: SQLite could create
		// -wal and -shm files there, owned by nobody, which would stop
		// the owner's patchpilot from writing its own database.
		{"shared folder", 0o1777},
	} {
		t.Run(mode.name, func(t *testing.T) {
			dir := filepath.Join(top, "ro")
			os.Chmod(dir, 0o755)
			os.RemoveAll(dir)
			db := filepath.Join(dir, "p.db")
			e.mustRun("inventory", "import-facts", facts, "--db", db)
			e.mustRun("history", "import", historyTrain, "--db", db)
			want := e.mustRun("hosts", "-o", "json", "--db", db)
			hosts := decodeJSON[[]struct {
				Name string `json:"name"`
			}](t, want)
			if len(hosts) != 1 {
				t.Fatalf("seeded hosts = %s, want one", want)
			}
			if err := os.Chmod(db, 0o444); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, mode.dirMode); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{
				{"hosts"},
				{"hosts", "show", hosts[0].Name},
				{"updates"},
				{"history"},
				{"history", "export"},
				{"model", "status"},
				{"assess"},
				{"rollout", "list"},
			} {
				r := e.runAsNobody(bin, append(args, "--db", db)...)
				if r.code != 0 {
					t.Errorf("as nobody, patchpilot %s: exit %d, stderr %q; want 0", strings.Join(args, " "), r.code, r.stderr)
				}
			}
			if r := e.runAsNobody(bin, "hosts", "-o", "json", "--db", db); r.stdout != want {
				t.Errorf("as nobody, hosts -o json = %s, want %s", r.stdout, want)
			}
			// A command that stores data fails with "unavailable", saying
			// why, rather than half-writing or panicking.
			r := e.runAsNobody(bin, "history", "import", historyTrain, "--db", db)
			if r.code != 5 || !strings.Contains(r.stderr, db) || strings.Contains(r.stderr, "panic") {
				t.Errorf("as nobody, history import: exit %d, stderr %q; want 5 naming %s", r.code, r.stderr, db)
			}
			for _, suffix := range []string{"-wal", "-shm"} {
				if _, err := os.Stat(db + suffix); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("reading as nobody left %s%s behind (%v)", db, suffix, err)
				}
			}
			// The owner still writes its database.
			os.Chmod(dir, 0o755)
			os.Chmod(db, 0o644)
			e.mustRun("inventory", "import-facts", facts, "--db", db)
		})
	}
}

// TestDatabasePathEdges: a reading command never creates a database or its
// folder, a mistyped folder is named, and another program's database is
// refused rather than migrated into.
func TestDatabasePathEdges(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "typo", "p.db")
	r := e.run("hosts", "--db", missing)
	if r.code != 4 || !strings.Contains(r.stderr, filepath.Join(dir, "typo")) || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("hosts --db in a missing folder: exit %d, stderr %q; want 4 naming the folder", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a reading command created %s", filepath.Dir(missing))
	}
	// A missing file in an existing folder reads as empty, and stays missing.
	empty := filepath.Join(dir, "new.db")
	if out := e.mustRun("hosts", "-o", "json", "--db", empty); strings.TrimSpace(out) != "[]" {
		t.Errorf("hosts on a missing database = %q, want []", out)
	}
	if _, err := os.Stat(empty); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a reading command created %s", empty)
	}
	// A command that stores data creates the folder, as before.
	e.mustRun("history", "import", historyTrain, "--db", missing)

	foreign := filepath.Join(dir, "other.db")
	raw, err := sql.Open("sqlite", foreign)
	if err != nil {
		t.Fatal(err)
	}
	_, err = raw.Exec(`CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)`)
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"hosts"}, {"history", "import", historyTrain}} {
		r := e.run(append(args, "--db", foreign)...)
		if r.code != 2 || !strings.Contains(r.stderr, "not a patchpilot database") || !strings.Contains(r.stderr, foreign) {
			t.Errorf("patchpilot %s on another program's database: exit %d, stderr %q; want 2, not a patchpilot database", strings.Join(args, " "), r.code, r.stderr)
		}
	}
}
