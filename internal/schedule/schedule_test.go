package schedule

import (
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

func utc(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, time.UTC)
}

func mustParse(t *testing.T, expr, tz string) Rule {
	t.Helper()
	r, err := Parse(expr, tz)
	if err != nil {
		t.Fatalf("Parse(%q, %q): %v", expr, tz, err)
	}
	return r
}

func wantTimes(t *testing.T, r Rule, after time.Time, want ...time.Time) {
	t.Helper()
	got := r.NextN(after, len(want))
	if len(got) != len(want) {
		t.Fatalf("%q NextN(%s) = %v, want %v", r, after, got, want)
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("%q run %d after %s = %s (%s), want %s (%s)", r, i+1, after.UTC(),
				got[i].UTC(), got[i].In(r.Location()), want[i].UTC(), want[i].In(r.Location()))
		}
	}
}

// TestPatchTuesdayEachFirstWeekday checks the second Tuesday in months
// of 2026 that start on each day of the week.
func TestPatchTuesdayEachFirstWeekday(t *testing.T) {
	cases := []struct {
		month time.Month
		first time.Weekday
		day   int
	}{
		{time.June, time.Monday, 9},
		{time.September, time.Tuesday, 8},
		{time.April, time.Wednesday, 14},
		{time.January, time.Thursday, 13},
		{time.May, time.Friday, 12},
		{time.August, time.Saturday, 11},
		{time.February, time.Sunday, 10},
	}
	for _, c := range cases {
		if w := time.Date(2026, c.month, 1, 0, 0, 0, 0, time.UTC).Weekday(); w != c.first {
			t.Fatalf("fixture: %s 2026 starts on %s, not %s", c.month, w, c.first)
		}
		if got := PatchTuesday(2026, c.month); got.Day() != c.day || got.Weekday() != time.Tuesday || got.Month() != c.month {
			t.Errorf("PatchTuesday(2026, %s) = %s, want the %dth", c.month, got.Format(time.DateOnly), c.day)
		}
		// The rule at +0d in UTC, asked from the first of the month.
		r := mustParse(t, "patch-tuesday +0d 10:00", "")
		if got := r.Next(utc(2026, c.month, 1, 0, 0)); !got.Equal(utc(2026, c.month, c.day, 10, 0)) {
			t.Errorf("%s: %q Next = %s, want %d %s 10:00", c.first, r, got, c.day, c.month)
		}
	}
}

func TestPatchTuesdayOffsets(t *testing.T) {
	// Patch Tuesday 2026: Jan 13, Feb 10, Mar 10, Apr 14, May 12, ...
	wantTimes(t, mustParse(t, "patch-tuesday +2d 22:00", ""), utc(2026, 1, 1, 0, 0),
		utc(2026, 1, 15, 22, 0), utc(2026, 2, 12, 22, 0), utc(2026, 3, 12, 22, 0))
	// Without an offset, the day itself.
	wantTimes(t, mustParse(t, "patch-tuesday 06:30", ""), utc(2026, 1, 13, 6, 30),
		utc(2026, 2, 10, 6, 30))
	// April's Patch Tuesday is the 14th: +17 days is 1 May, and the rule
	// of May then falls on 29 May.
	wantTimes(t, mustParse(t, "patch-tuesday +17d 03:00", ""), utc(2026, 4, 1, 0, 0),
		utc(2026, 5, 1, 3, 0), utc(2026, 5, 29, 3, 0))
	// December 2026 (the 8th) +25 days crosses into January 2027.
	wantTimes(t, mustParse(t, "patch-tuesday +25d 01:00", ""), utc(2026, 12, 20, 0, 0),
		utc(2027, 1, 2, 1, 0))
	// A negative offset: September's is the 8th, so -9d is 30 August,
	// and asked from mid-August that is the next run.
	wantTimes(t, mustParse(t, "patch-tuesday -9d 12:00", ""), utc(2026, 8, 15, 0, 0),
		utc(2026, 8, 30, 12, 0), utc(2026, 10, 4, 12, 0))
	// Strictly after: asking at a run time gives the next month's.
	wantTimes(t, mustParse(t, "patch-tuesday +2d 22:00", ""), utc(2026, 1, 15, 22, 0),
		utc(2026, 2, 12, 22, 0))
}

func TestPatchTuesdayTimeZone(t *testing.T) {
	// 22:00 in Berlin is 21:00 UTC in winter and 20:00 UTC in summer.
	wantTimes(t, mustParse(t, "patch-tuesday +2d 22:00", "Europe/Berlin"), utc(2026, 2, 1, 0, 0),
		utc(2026, 2, 12, 21, 0), utc(2026, 3, 12, 21, 0), utc(2026, 4, 16, 20, 0))
	// 22:00 in New York on 15 January is 03:00 UTC on the 16th.
	wantTimes(t, mustParse(t, "patch-tuesday +2d 22:00", "America/New_York"), utc(2026, 1, 1, 0, 0),
		utc(2026, 1, 16, 3, 0))
	// The month is the zone's: at 23:30 UTC on 31 January it is already
	// February in Berlin, and the run of January (13th) is past.
	wantTimes(t, mustParse(t, "patch-tuesday 00:30", "Europe/Berlin"), utc(2026, 1, 31, 23, 30),
		utc(2026, 2, 9, 23, 30))
}

func TestDSTSpringForward(t *testing.T) {
	// Europe/Berlin, 29 March 2026: 02:00 CET becomes 03:00 CEST (01:00 UTC).
	berlinDaily := mustParse(t, "30 2 * * *", "Europe/Berlin")
	wantTimes(t, berlinDaily, utc(2026, 3, 28, 12, 0),
		utc(2026, 3, 29, 1, 0), // 02:30 does not exist: the first instant after the gap
		utc(2026, 3, 30, 0, 30))
	// Three wall times inside the gap run once, at its end.
	wantTimes(t, mustParse(t, "0,15,30 2 * * *", "Europe/Berlin"), utc(2026, 3, 28, 23, 0),
		utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 0))
	// Patch Tuesday of March 2026 is the 10th; +19d is the 29th (and
	// February's, the 10th, +19d is 1 March).
	wantTimes(t, mustParse(t, "patch-tuesday +19d 02:30", "Europe/Berlin"), utc(2026, 3, 2, 0, 0),
		utc(2026, 3, 29, 1, 0))
	// America/New_York, 8 March 2026: 02:00 EST becomes 03:00 EDT (07:00 UTC).
	wantTimes(t, mustParse(t, "0 2 * * *", "America/New_York"), utc(2026, 3, 7, 12, 0),
		utc(2026, 3, 8, 7, 0), utc(2026, 3, 9, 6, 0))
	// Hours on both sides of the gap keep their wall times.
	wantTimes(t, mustParse(t, "0 1,3 8 3 *", "America/New_York"), utc(2026, 3, 8, 0, 0),
		utc(2026, 3, 8, 6, 0), utc(2026, 3, 8, 7, 0))
}

func TestDSTFallBack(t *testing.T) {
	// Europe/Berlin, 25 October 2026: 03:00 CEST becomes 02:00 CET
	// (01:00 UTC); 02:00-02:59 happens twice.
	wantTimes(t, mustParse(t, "30 2 * * *", "Europe/Berlin"), utc(2026, 10, 24, 12, 0),
		utc(2026, 10, 25, 0, 30), // the first 02:30, CEST
		utc(2026, 10, 26, 1, 30)) // not the second 02:30 of the 25th
	// Every half hour: the repeated hour runs once.
	wantTimes(t, mustParse(t, "*/30 * * * *", "Europe/Berlin"), utc(2026, 10, 24, 23, 45),
		utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 2, 0), utc(2026, 10, 25, 2, 30))
	// Asked during the second pass of the repeated hour, the rule does
	// not run that hour again.
	wantTimes(t, mustParse(t, "45 2 * * *", "Europe/Berlin"), utc(2026, 10, 25, 1, 10),
		utc(2026, 10, 26, 1, 45))
	// America/New_York, 1 November 2026: 02:00 EDT becomes 01:00 EST;
	// 01:30 happens at 05:30 and 06:30 UTC.
	wantTimes(t, mustParse(t, "30 1 * * *", "America/New_York"), utc(2026, 10, 31, 12, 0),
		utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30))
	wantTimes(t, mustParse(t, "patch-tuesday -9d 01:30", "America/New_York"), utc(2026, 10, 20, 0, 0),
		utc(2026, 11, 1, 5, 30)) // November's Patch Tuesday is the 10th
}

func TestCronFields(t *testing.T) {
	cases := []struct {
		expr  string
		after time.Time
		want  []time.Time
	}{
		// Thursdays at 22:00.
		{"0 22 * * thu", utc(2026, 1, 1, 0, 0), []time.Time{utc(2026, 1, 1, 22, 0), utc(2026, 1, 8, 22, 0)}},
		{"0 22 * * 4", utc(2026, 1, 1, 22, 0), []time.Time{utc(2026, 1, 8, 22, 0)}},
		// Sunday as 7 and as 0.
		{"0 0 * * 7", utc(2026, 1, 1, 0, 0), []time.Time{utc(2026, 1, 4, 0, 0), utc(2026, 1, 11, 0, 0)}},
		// Steps and ranges.
		{"*/20 9-10 * * *", utc(2026, 1, 1, 0, 0), []time.Time{utc(2026, 1, 1, 9, 0), utc(2026, 1, 1, 9, 20),
			utc(2026, 1, 1, 9, 40), utc(2026, 1, 1, 10, 0)}},
		{"5/30 0 1 * *", utc(2026, 1, 1, 0, 0), []time.Time{utc(2026, 1, 1, 0, 5), utc(2026, 1, 1, 0, 35), utc(2026, 2, 1, 0, 5)}},
		// Both day fields restricted: either matches (1st, or any Monday).
		{"0 0 1 * mon", utc(2026, 1, 27, 0, 0), []time.Time{utc(2026, 2, 1, 0, 0), utc(2026, 2, 2, 0, 0), utc(2026, 2, 9, 0, 0)}},
		// Month ends and leap days.
		{"0 12 31 * *", utc(2026, 1, 31, 12, 0), []time.Time{utc(2026, 3, 31, 12, 0)}},
		{"0 0 29 feb *", utc(2026, 1, 1, 0, 0), []time.Time{utc(2028, 2, 29, 0, 0)}},
		{"@monthly", utc(2026, 1, 15, 0, 0), []time.Time{utc(2026, 2, 1, 0, 0)}},
	}
	for _, c := range cases {
		wantTimes(t, mustParse(t, c.expr, ""), c.after, c.want...)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		expr, tz string
		mention  []string
	}{
		{"", "", []string{"empty rule"}},
		{"* * * *", "", []string{"4 fields", "expected 5"}},
		{"61 * * * *", "", []string{"minute field", `"61"`, "0 to 59"}},
		{"0 24 * * *", "", []string{"hour field", "0 to 23"}},
		{"0 0 0 * *", "", []string{"day-of-month field", "1 to 31"}},
		{"0 0 * 13 *", "", []string{"month field", "1 to 12"}},
		{"0 0 * * 8", "", []string{"day-of-week field", "0 to 7"}},
		{"0 0 * * fry", "", []string{"day-of-week field", "sun-sat"}},
		{"*/0 * * * *", "", []string{"minute field", "step"}},
		{"0 5-2 * * *", "", []string{"hour field", "range 5-2"}},
		{"0 0 30 2 *", "", []string{"never meet"}},
		{"@often", "", []string{"unknown macro"}},
		{"patch-tuesday +2 22:00", "", []string{"day offset", "+2d"}},
		{"patch-tuesday +40d 22:00", "", []string{"day offset", "at most 27"}},
		{"patch-tuesday +2d 25:00", "", []string{"time", `"25:00"`, "24-hour"}},
		{"patch-tuesday +2d", "", []string{"time", "24-hour"}},
		{"patch-tuesday", "", []string{"expected"}},
		{"patch-tuesday +1d 2d 22:00", "", []string{"expected"}},
		{"0 0 * * *", "Europe/Berlinn", []string{"timezone", "Europe/Berlinn", "IANA"}},
	}
	for _, c := range cases {
		_, err := Parse(c.expr, c.tz)
		if err == nil {
			t.Errorf("Parse(%q, %q): no error", c.expr, c.tz)
			continue
		}
		if patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			t.Errorf("Parse(%q): code %s, want invalid", c.expr, patchpilot.ErrorCode(err))
		}
		for _, m := range c.mention {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("Parse(%q, %q) = %q; want it to mention %q", c.expr, c.tz, err, m)
			}
		}
	}
}

func TestZeroRuleNeverRuns(t *testing.T) {
	var r Rule
	if !r.IsZero() || !r.Next(utc(2026, 1, 1, 0, 0)).IsZero() || len(r.NextN(utc(2026, 1, 1, 0, 0), 5)) != 0 {
		t.Errorf("zero Rule runs")
	}
}
