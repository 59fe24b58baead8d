package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// The holders' condition keeps the rollouts patchpilot.HoldsHosts says
// hold hosts, in every state and with reasons held or not, and the reads
// of the holders look them up in rollouts_holding, reading neither every
// rollout nor a rollout's row (and its plan).
func TestHoldsHostsCondition(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var want []string
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, st := range patchpilot.RolloutStates() {
		for j, reason := range []string{"", patchpilot.HeldReasonPrefix + ": no maintenance window opens", "stage canary failed; halted", "hel"} {
			id := fmt.Sprintf("r-%02d-%d", i, j)
			if _, err := db.write.ExecContext(ctx, `INSERT INTO rollouts (id, plan, state, reason, created_at, updated_at) VALUES (?, '{}', ?, ?, ?, ?)`,
				id, string(st), reason, formatTime(at), formatTime(at)); err != nil {
				t.Fatal(err)
			}
			if patchpilot.HoldsHosts(st, reason) {
				want = append(want, id)
			}
		}
	}
	rows, err := db.read.QueryContext(ctx, `SELECT r.id FROM rollouts r WHERE `+holdsHosts("r")+` ORDER BY r.id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	rows.Close()
	if !slices.Equal(got, want) {
		t.Errorf("holders %v\nwant    %v", got, want)
	}

	for _, q := range []string{
		`SELECT r.id, r.state, r.reason, r.created_at, h.host, h.state, h.ord FROM rollouts r JOIN host_runs h ON h.rollout = r.id
			WHERE r.dry_run = 0 AND ` + holdsHosts("r") + ` ORDER BY r.created_at, r.id, h.host`,
		`SELECT r.id, r.state, r.reason, h.host FROM rollouts r JOIN host_runs h ON h.rollout = r.id
			WHERE ` + holdsHosts("r") + ` AND r.dry_run = 0 ORDER BY r.created_at, r.id, h.host`,
	} {
		text := QueryPlan(t, db.read, q)
		if !strings.Contains(text, "SEARCH r USING COVERING INDEX rollouts_holding (state=?") {
			t.Errorf("the holders are not looked up in rollouts_holding:\n%s", text)
		}
	}
}
