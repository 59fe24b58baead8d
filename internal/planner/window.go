package planner

import (
	"time"

	"github.com/patchpilot/patchpilot"
)

// The calendar of maintenance windows (patchpilot.MaintenanceWindow): a
// weekly window in a time zone, compared on that zone's wall clock.

const minutesPerDay = 24 * 60

// WindowLocation loads a maintenance window's time zone.
func WindowLocation(w patchpilot.MaintenanceWindow) (*time.Location, error) {
	if w.TZ == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(w.TZ)
	if err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "unknown time zone %q", w.TZ).WithHint(`use an IANA zone name such as "Europe/Berlin" or "UTC"`)
	}
	return loc, nil
}

// WindowContains reports whether t falls inside the window. Times are
// compared on the local wall clock of the window's zone, so a window keeps
// its local hours across daylight-saving changes. A window whose zone
// cannot be loaded contains nothing: windows fail closed.
func WindowContains(w patchpilot.MaintenanceWindow, t time.Time) bool {
	loc, err := WindowLocation(w)
	if err != nil {
		return false
	}
	local := t.In(loc)
	now := patchpilot.TimeOfDay(local.Hour()*60 + local.Minute())
	today, yesterday := local.Weekday(), (local.Weekday()+6)%7
	length := windowLength(w)
	// The window may have opened today, or yesterday if it crosses midnight.
	if windowOnDay(w, today) && now >= w.Start && int(now-w.Start) < length {
		return true
	}
	return windowOnDay(w, yesterday) && int(now)+minutesPerDay-int(w.Start) < length
}

// WindowNextOpen returns the earliest time at or after t at which the window is
// open, and false when it never opens (an unknown zone).
func WindowNextOpen(w patchpilot.MaintenanceWindow, t time.Time) (time.Time, bool) {
	if WindowContains(w, t) {
		return t, true
	}
	loc, err := WindowLocation(w)
	if err != nil {
		return time.Time{}, false
	}
	local := t.In(loc)
	for d := 0; d <= 8; d++ {
		day := time.Date(local.Year(), local.Month(), local.Day()+d, 0, 0, 0, 0, loc)
		if !windowOnDay(w, day.Weekday()) {
			continue
		}
		open := time.Date(day.Year(), day.Month(), day.Day(), int(w.Start)/60, int(w.Start)%60, 0, 0, loc)
		// A start that falls into a daylight-saving gap does not exist:
		// time.Date moves it forward by the gap, but the window really
		// opens when the clocks jump, at the start of the new zone offset.
		if open.Hour()*60+open.Minute() != int(w.Start) {
			open, _ = open.ZoneBounds()
		}
		if !open.Before(t) {
			return open, true
		}
	}
	return time.Time{}, false
}

func windowLength(w patchpilot.MaintenanceWindow) int {
	if w.End > w.Start {
		return int(w.End - w.Start)
	}
	return int(w.End) + minutesPerDay - int(w.Start)
}

func windowOnDay(w patchpilot.MaintenanceWindow, d time.Weekday) bool {
	if len(w.Days) == 0 {
		return true
	}
	for _, x := range w.Days {
		if x == d {
			return true
		}
	}
	return false
}
