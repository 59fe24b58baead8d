package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// openAtVersion creates a database with only the first n migrations, as
// an older patchpilot left it.
func openAtVersion(t *testing.T, path string, n int) {
	t.Helper()
	ctx := context.Background()
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	db := &DB{path: path, now: time.Now}
	if db.write, err = sql.Open("sqlite", dsn(path, false)); err != nil {
		t.Fatal(err)
	}
	db.write.SetMaxOpenConns(1)
	if db.read, err = sql.Open("sqlite", dsn(path, true)); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.applyMigrations(ctx, ms[:n]); err != nil {
		t.Fatal(err)
	}
}

// TestRolloutsBeforePlansLoad upgrades a database whose rollouts were
// stored before rollouts named a saved plan: they load, without one.
func TestRolloutsBeforePlansLoad(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	openAtVersion(t, path, 3)
	plan := patchpilot.Plan{Name: "old", Stages: []patchpilot.Stage{{Name: "all"}}}.WithDefaults()
	enc, err := encodePlan(plan)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = raw.Exec(`INSERT INTO rollouts (id, plan_source, plan, state, created_by, created_at, updated_at)
		VALUES ('r-old', 'rollout: {}', ?, 'succeeded', 'user:ann', '2026-01-01T00:00:00.000000000Z', '2026-01-01T00:00:00.000000000Z')`, string(enc))
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open of a version-3 database: %v", err)
	}
	defer db.Close()
	r, err := db.Rollout(ctx, "r-old")
	if err != nil {
		t.Fatalf("Rollout stored before plan ids: %v", err)
	}
	if r.PlanID != "" || r.CreatedBy != "user:ann" || !reflect.DeepEqual(r.Plan, plan) {
		t.Errorf("old rollout = %+v, want its plan and creator and no plan id", r)
	}
	if _, err := db.PlanRecords(ctx); err != nil {
		t.Errorf("PlanRecords after the upgrade: %v", err)
	}
}

func TestAuditIsAppendOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.AppendAudit(ctx, patchpilot.AuditEntry{Actor: "token:a", Action: "token.create", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, stmt := range []string{"UPDATE audit SET outcome = 'forbidden'", "DELETE FROM audit"} {
		if _, err := raw.Exec(stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want the append-only refusal", stmt, err)
		}
	}
	list, err := db.Audit(ctx, patchpilot.AuditFilter{})
	if err != nil || len(list) != 1 || list[0].Outcome != "ok" {
		t.Errorf("Audit = %+v, %v; want the entry unchanged", list, err)
	}
}

// TestTokenSecretsAreHashes checks what the tokens table holds: the hash
// the caller gave, as 32 bytes, and nothing else that could be a secret.
func TestTokenSecretsAreHashes(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hash := make([]byte, 32)
	for i := range hash {
		hash[i] = byte(i)
	}
	if err := db.CreateToken(ctx, patchpilot.Token{Name: "a", Role: patchpilot.RoleViewer}, hash); err != nil {
		t.Fatal(err)
	}
	var got []byte
	if err := db.read.QueryRow(`SELECT hash FROM tokens WHERE name = 'a'`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, hash) {
		t.Errorf("stored hash %x, want %x", got, hash)
	}
	// The lookup uses the unique index on the hash, not a scan.
	if s := QueryPlan(t, db.read, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash); !strings.Contains(s, "USING INDEX") {
		t.Errorf("token lookup plan %q, want it to use an index", s)
	}
}
