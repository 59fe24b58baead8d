package planner

import (
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// parseWindow reads one window the way a plan file states it.
func parseWindow(t *testing.T, spec string) patchpilot.MaintenanceWindow {
	t.Helper()
	p, err := Parse([]byte(doc(okStage)+"  windows:\n    - "+spec+"\n"), "window.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p.Windows[0]
}

func utc(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestWindowContains(t *testing.T) {
	weekend := `{days: [sat, sun], start: "02:00", end: "06:00", tz: "Europe/Berlin"}`
	night := `{days: [fri], start: "22:00", end: "02:00"}`
	allMonday := `{days: [mon], start: "00:00", end: "00:00", tz: UTC}`
	daily := `{start: "09:00", end: "10:00", tz: "America/New_York"}`
	tests := []struct {
		window string
		at     string // UTC
		want   bool
	}{
		// 2026-11-28 is a Saturday; Berlin is UTC+1 in winter.
		{weekend, "2026-11-28 01:00", true},  // 02:00 local, the opening minute
		{weekend, "2026-11-28 00:59", false}, // 01:59 local
		{weekend, "2026-11-28 04:59", true},  // 05:59 local
		{weekend, "2026-11-28 05:00", false}, // 06:00 local: the end is exclusive
		{weekend, "2026-11-27 02:00", false}, // Friday
		{weekend, "2026-11-29 03:00", true},  // Sunday
		{weekend, "2026-11-30 03:00", false}, // Monday
		// Across midnight: opens Friday 22:00, closes Saturday 02:00 (UTC).
		{night, "2026-11-27 22:00", true},
		{night, "2026-11-27 21:59", false},
		{night, "2026-11-28 01:59", true}, // Saturday, still Friday's window
		{night, "2026-11-28 02:00", false},
		{night, "2026-11-28 23:00", false}, // Saturday's own night has no window
		{night, "2026-11-26 23:00", false}, // Thursday
		// Start equal to end: the whole day.
		{allMonday, "2026-11-30 00:00", true},
		{allMonday, "2026-11-30 23:59", true},
		{allMonday, "2026-12-01 00:00", false},
		// No days: every day, in New York time (UTC-5 in winter).
		{daily, "2026-11-25 14:30", true},
		{daily, "2026-11-25 09:30", false},
		// Daylight saving in Berlin. On 2026-03-29 clocks jump from 02:00
		// to 03:00: the window opens at 03:00 local (01:00 UTC), the first
		// minute that exists, and still closes at 06:00 local (04:00 UTC).
		{weekend, "2026-03-29 00:59", false}, // 01:59 CET
		{weekend, "2026-03-29 01:00", true},  // 03:00 CEST
		{weekend, "2026-03-29 03:59", true},  // 05:59 CEST
		{weekend, "2026-03-29 04:00", false}, // 06:00 CEST
		// On 2026-10-25 02:00-03:00 local happens twice; both are inside.
		{weekend, "2026-10-25 00:30", true}, // 02:30 CEST
		{weekend, "2026-10-25 01:30", true}, // 02:30 CET
		{weekend, "2026-10-25 04:59", true}, // 05:59 CET
		{weekend, "2026-10-25 05:00", false},
	}
	for _, tt := range tests {
		w := parseWindow(t, tt.window)
		if got := WindowContains(w, utc(tt.at)); got != tt.want {
			t.Errorf("%s Contains(%s UTC) = %v, want %v", tt.window, tt.at, got, tt.want)
		}
	}
}

func TestWindowUnknownZoneFailsClosed(t *testing.T) {
	w := patchpilot.MaintenanceWindow{TZ: "Nowhere/Atlantis"}
	if WindowContains(w, utc("2026-11-28 03:00")) {
		t.Error("a window with an unknown zone contains a time")
	}
	if _, ok := WindowNextOpen(w, utc("2026-11-28 03:00")); ok {
		t.Error("a window with an unknown zone opens")
	}
}

func TestWindowNextOpen(t *testing.T) {
	tests := []struct {
		window string
		from   string
		want   string
	}{
		{`{days: [sat, sun], start: "02:00", end: "06:00", tz: "Europe/Berlin"}`, "2026-11-25 12:00", "2026-11-28 01:00"},
		{`{days: [sat, sun], start: "02:00", end: "06:00", tz: "Europe/Berlin"}`, "2026-11-28 02:00", "2026-11-28 02:00"}, // already open
		{`{days: [fri], start: "22:00", end: "02:00"}`, "2026-11-28 03:00", "2026-12-04 22:00"},
		// The opening falls into the spring-forward gap: it opens at the
		// first minute that exists, 03:00 CEST.
		{`{days: [sun], start: "02:30", end: "04:00", tz: "Europe/Berlin"}`, "2026-03-28 12:00", "2026-03-29 01:00"},
	}
	for _, tt := range tests {
		w := parseWindow(t, tt.window)
		got, ok := WindowNextOpen(w, utc(tt.from))
		if !ok || !got.Equal(utc(tt.want)) {
			t.Errorf("%s NextOpen(%s) = %v, %v; want %s UTC", tt.window, tt.from, got.UTC(), ok, tt.want)
		}
		if !WindowContains(w, got) {
			t.Errorf("%s: the window does not contain its own opening %v", tt.window, got.UTC())
		}
	}
}
