package app

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

const scheduleConfig = `db: /x.db
schedules:
  - name: monthly-security
    when: patch-tuesday +2d 22:00
    timezone: Europe/Berlin
    hosts: env=prod
    inventory: hosts.ini
    updates:
      security: true
      min_severity: High
      packages: [openssl, libssl3]
    window:
      days: [sat, sun]
      start: "22:00"
      end: "04:00"
  - name: nightly
    when: "30 2 * * *"
    hosts: ""
    updates: {security: false}
inventory_schedules:
  - name: prod-facts
    inventory: /etc/patchpilot/prod.ini
    every: 6h
  - name: me
    inventory: local
    every: 30m
`

func TestLoadConfigSchedules(t *testing.T) {
	path := writeConfig(t, scheduleConfig)
	c, err := LoadConfig(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Schedules) != 2 || len(c.InventorySchedules) != 2 {
		t.Fatalf("schedules = %+v, inventory schedules = %+v", c.Schedules, c.InventorySchedules)
	}
	m := c.Schedules[0]
	wantWindow := &patchpilot.MaintenanceWindow{Days: []time.Weekday{time.Saturday, time.Sunday}, Start: 22 * 60, End: 4 * 60, TZ: "Europe/Berlin"}
	if m.Name != "monthly-security" || m.Kind != patchpilot.SchedulePatch || m.Hosts != "env=prod" ||
		m.Inventory != filepath.Join(filepath.Dir(path), "hosts.ini") || !reflect.DeepEqual(m.Window, wantWindow) ||
		!reflect.DeepEqual(m.Updates, UpdateSelector{Security: true, MinSeverity: patchpilot.SeverityHigh, Packages: []string{"openssl", "libssl3"}}) {
		t.Errorf("monthly-security = %+v (window %+v)", m, m.Window)
	}
	// The rule is parsed in its zone: March 2026's Patch Tuesday is the
	// 10th, so the run is on the 12th at 22:00 CET.
	if got := m.Rule().Next(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2026, 3, 12, 21, 0, 0, 0, time.UTC)) {
		t.Errorf("monthly-security next run = %s", got)
	}
	if n := c.Schedules[1]; n.Rule().Location() != time.UTC || n.Updates.Security || n.Window != nil || n.Inventory != "" {
		t.Errorf("nightly = %+v", n)
	}
	if inv := c.InventorySchedules[0]; inv.Kind != patchpilot.ScheduleInventory || inv.Every != 6*time.Hour || inv.Inventory != "/etc/patchpilot/prod.ini" {
		t.Errorf("prod-facts = %+v", inv)
	}
	if me := c.InventorySchedules[1]; me.Inventory != InventoryLocal || me.Every != 30*time.Minute {
		t.Errorf("me = %+v", me)
	}
	o, err := c.Apply(Options{})
	if err != nil || len(o.Schedules) != 4 || o.Schedules[3].Name != "me" {
		t.Errorf("Apply: %d schedules, %v", len(o.Schedules), err)
	}
}

func TestLoadConfigSchedulesRejects(t *testing.T) {
	patch := func(body string) string {
		return "schedules:\n  - name: s1\n" + body
	}
	const ok = "    when: \"0 22 * * 4\"\n    hosts: env=prod\n    updates: {security: true}\n"
	tests := []struct {
		name, body string
		want       []string
	}{
		{"not a list", "schedules: {name: x}\n", []string{":1:", "schedules: expected a list of schedules"}},
		{"unknown key", patch(ok + "    hots: x\n"), []string{":6:", "schedules[0]", `unknown key "hots"`, "known keys: name, when"}},
		{"missing when", patch("    hosts: env=prod\n    updates: {security: true}\n"), []string{":2:", `missing key "when"`}},
		{"bad cron", patch("    when: \"0 25 * * *\"\n    hosts: a=b\n    updates: {security: true}\n"),
			[]string{":3:", "schedules[0] (s1): when", "hour field", "0 to 23"}},
		{"bad offset", patch("    when: patch-tuesday +2 22:00\n    hosts: a=b\n    updates: {security: true}\n"),
			[]string{":3:", "when", "day offset"}},
		{"bad zone", patch(ok + "    timezone: Mars/Olympus\n"), []string{":6:", "timezone", "Mars/Olympus", "IANA"}},
		{"bad selector", patch("    when: \"0 22 * * 4\"\n    hosts: \"env==\"\n    updates: {security: true}\n"), []string{":4:", "hosts"}},
		{"bad severity", patch("    when: \"0 22 * * 4\"\n    hosts: a=b\n    updates: {min_severity: severe}\n"),
			[]string{":5:", "updates: min_severity", `"severe"`, "critical, high, medium or low"}},
		{"unknown update key", patch("    when: \"0 22 * * 4\"\n    hosts: a=b\n    updates: {securty: true}\n"),
			[]string{":5:", "updates", `unknown key "securty"`}},
		{"empty updates", patch("    when: \"0 22 * * 4\"\n    hosts: a=b\n    updates: {}\n"), []string{":5:", "updates", "at least one of"}},
		{"pinned package", patch("    when: \"0 22 * * 4\"\n    hosts: a=b\n    updates: {packages: [openssl=3.0]}\n"),
			[]string{":5:", "packages", "expected a package name"}},
		{"security word", patch("    when: \"0 22 * * 4\"\n    hosts: a=b\n    updates: {security: maybe}\n"),
			[]string{":5:", "security", "true or false"}},
		{"window day", patch(ok + "    window: {days: [funday], start: \"22:00\", end: \"04:00\"}\n"), []string{":6:", "window: days", "funday"}},
		{"window start", patch(ok + "    window: {start: \"22h\", end: \"04:00\"}\n"), []string{":6:", "window: start", "24-hour"}},
		{"window end missing", patch(ok + "    window:\n      start: \"22:00\"\n"), []string{":7:", "window", `missing field "end"`}},
		{"window key", patch(ok + "    window:\n      start: \"22:00\"\n      end: \"23:00\"\n      zone: UTC\n"),
			[]string{":9:", `unknown field "zone"`, "days, start, end, tz"}},
		{"bad name", "schedules:\n  - name: \"a b\"\n" + ok, []string{":2:", "name", `"a b"`}},
		{"every", "inventory_schedules:\n  - name: i\n    inventory: local\n    every: 6 hours\n", []string{":4:", "inventory_schedules[0] (i): every", "6h"}},
		{"every too short", "inventory_schedules:\n  - name: i\n    inventory: local\n    every: 1s\n", []string{":4:", "at least 1m0s"}},
		{"inventory key", "inventory_schedules:\n  - name: i\n    inventory: local\n    every: 6h\n    when: daily\n",
			[]string{":5:", `unknown key "when"`, "known keys: name, inventory, every"}},
		{"no inventory", "inventory_schedules:\n  - name: i\n    every: 6h\n", []string{":2:", `missing key "inventory"`}},
		{"name twice", patch(ok) + "inventory_schedules:\n  - name: s1\n    inventory: local\n    every: 6h\n", []string{":7: ", `schedule name "s1" is used twice (first at line 2)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.body)
			_, err := LoadConfig(path, true)
			if patchpilot.ErrorCode(err) != patchpilot.EINVALID {
				t.Fatalf("LoadConfig: %v, want %s", err, patchpilot.EINVALID)
			}
			for _, w := range append([]string{path}, tt.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestCheckSchedules(t *testing.T) {
	ss, err := CheckSchedules([]Schedule{
		{Name: "p", Kind: patchpilot.SchedulePatch, When: "patch-tuesday 10:00", Timezone: "America/New_York", Hosts: "env=prod"},
		{Name: "i", Kind: patchpilot.ScheduleInventory, Inventory: "local", Every: time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ss[0].Rule().IsZero() || ss[0].Location().String() != "America/New_York" {
		t.Errorf("rule not parsed: %+v", ss[0])
	}
	for _, bad := range [][]Schedule{
		{{Name: "p", Kind: patchpilot.SchedulePatch, When: "weekly"}},
		{{Name: "i", Kind: patchpilot.ScheduleInventory, Inventory: "local"}},
		{{Name: "i", Kind: patchpilot.ScheduleInventory, Every: time.Hour}},
		{{Name: "x", Kind: "sometimes"}},
		{{Name: "i", Kind: patchpilot.ScheduleInventory, Inventory: "local", Every: time.Hour}, {Name: "i", Kind: patchpilot.ScheduleInventory, Inventory: "local", Every: time.Hour}},
	} {
		if _, err := CheckSchedules(bad); patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			t.Errorf("CheckSchedules(%+v) = %v, want invalid", bad, err)
		}
	}
}

func TestInventoryNextRuns(t *testing.T) {
	s := Schedule{Kind: patchpilot.ScheduleInventory, Every: 6 * time.Hour}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if got := s.NextRuns(at, time.Time{}, 2); !got[0].Equal(at) || !got[1].Equal(at.Add(6*time.Hour)) {
		t.Errorf("never run: %v", got)
	}
	// Last run at 08:00: next at 14:00.
	if got := s.NextRuns(at, at.Add(-4*time.Hour), 1); !got[0].Equal(at.Add(2 * time.Hour)) {
		t.Errorf("after a run at 08:00: %v", got)
	}
	// Last run long ago: the next is on the same grid, not in the past.
	if got := s.NextRuns(at, at.Add(-25*time.Hour), 1); !got[0].Equal(at.Add(5 * time.Hour)) {
		t.Errorf("after a run 25h ago: %v", got)
	}
}
