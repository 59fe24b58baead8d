package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestScheduleList(t *testing.T) {
	e := newEnv(t)
	cfgDir := filepath.Join(e.home, "config", "patchpilot")
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := `schedules:
  - name: monthly
    when: patch-tuesday +2d 22:00
    timezone: Europe/Berlin
    hosts: env=prod
    updates: {security: true, min_severity: high}
    window: {days: [fri], start: "22:00", end: "04:00"}
inventory_schedules:
  - name: facts
    inventory: hosts.ini
    every: 6h
`
	if err := os.WriteFile(filepath.Join(cfgDir, "patchpilot.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	type item struct {
		Name       string      `json:"name"`
		Kind       string      `json:"kind"`
		Inventory  string      `json:"inventory"`
		Every      string      `json:"every"`
		WindowText string      `json:"window_text"`
		Next       []time.Time `json:"next"`
		NextUTC    []time.Time `json:"next_utc"`
		Starts     []time.Time `json:"starts"`
		Last       *struct{}   `json:"last"`
	}
	items := decodeJSON[[]item](t, e.mustRun("schedule", "list", "-o", "json"))
	if len(items) != 2 || items[0].Name != "monthly" || items[0].Kind != "patch" || items[1].Kind != "inventory" {
		t.Fatalf("schedule list = %+v", items)
	}
	m := items[0]
	if len(m.Next) != 5 || len(m.NextUTC) != 5 || len(m.Starts) != 5 || m.Last != nil || m.WindowText != "fri 22:00-04:00 Europe/Berlin" {
		t.Fatalf("monthly = %+v", m)
	}
	for i, n := range m.Next {
		local := n.In(mustZone(t, "Europe/Berlin"))
		if !n.Equal(m.NextUTC[i]) || local.Hour() != 22 || local.Weekday() != time.Thursday || local.Day() < 10 || local.Day() > 16 {
			t.Errorf("run %d at %s (%s UTC): want a Thursday two days after Patch Tuesday at 22:00 Berlin time", i, n, m.NextUTC[i])
		}
		// The window opens on the Friday, a day later.
		if got := m.Starts[i].Sub(n); got != 24*time.Hour {
			t.Errorf("run %d starts %s after its time, want 24h (the Friday window)", i, got)
		}
	}
	if f := items[1]; f.Every != "6h" || f.Inventory != filepath.Join(cfgDir, "hosts.ini") || len(f.Next) != 5 || f.Next[1].Sub(f.Next[0]) != 6*time.Hour {
		t.Errorf("facts = %+v", f)
	}
	table := e.mustRun("schedule", "list")
	for _, want := range []string{"monthly", "patch-tuesday +2d 22:00 (Europe/Berlin)", "security high+", "waits for the window", "never ran", "every:", "6h"} {
		if !strings.Contains(table, want) {
			t.Errorf("table does not show %q:\n%s", want, table)
		}
	}

	// A bad rule is refused with the file, line and field.
	bad := strings.Replace(cfg, "patch-tuesday +2d 22:00", "patch-tuesday +2days 22:00", 1)
	if err := os.WriteFile(filepath.Join(cfgDir, "patchpilot.yaml"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.run("schedule", "list")
	if r.code != 2 || !strings.Contains(r.stderr, "patchpilot.yaml:3:") || !strings.Contains(r.stderr, "when") || !strings.Contains(r.stderr, "day offset") {
		t.Errorf("bad rule: exit %d, stderr %q; want 2 naming the line and the day offset", r.code, r.stderr)
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestScheduleListEmpty(t *testing.T) {
	e := newEnv(t)
	if out := e.mustRun("schedule", "list"); !strings.Contains(out, "no schedules are configured") {
		t.Errorf("schedule list without schedules: %q", out)
	}
	if out := e.mustRun("schedule", "list", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("schedule list -o json without schedules: %q, want []", out)
	}
}
