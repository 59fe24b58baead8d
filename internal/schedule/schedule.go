// Package schedule holds the rules that say when a schedule runs: a
// five-field cron expression or a rule relative to Patch Tuesday (the second
// Tuesday of the month), each evaluated on the wall clock of an IANA time
// zone. It is pure: no clock, no store, no I/O.
//
// Daylight-saving changes follow one rule for both kinds. A local time that
// does not exist (the clocks jump over it in spring) runs at the first
// instant after the gap; a local time that happens twice (the clocks go back
// in autumn) runs once, at its first occurrence.
package schedule

import (
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// PatchTuesdayKeyword starts a Patch-Tuesday-relative rule.
const PatchTuesdayKeyword = "patch-tuesday"

// MaxOffsetDays bounds the day offset of a Patch-Tuesday rule, so that a
// rule stays tied to its own month.
const MaxOffsetDays = 27

// Rule says when something runs. The zero Rule never runs.
type Rule struct {
	text string
	loc  *time.Location
	cron *cron
	pt   *patchTuesday
}

// Parse reads a rule: a cron expression of five fields ("minute hour
// day-of-month month day-of-week", or one of @hourly, @daily, @weekly,
// @monthly, @yearly) or "patch-tuesday [+Nd|-Nd] HH:MM". tz is an IANA
// zone name; "" means UTC. Errors name the part of the rule that is wrong
// and what was expected.
func Parse(expr, tz string) (Rule, error) {
	loc, err := LoadLocation(tz)
	if err != nil {
		return Rule{}, err
	}
	text := strings.Join(strings.Fields(expr), " ")
	r := Rule{text: text, loc: loc}
	switch {
	case text == "":
		return Rule{}, patchpilot.Errorf(patchpilot.EINVALID, "empty rule: expected a cron expression such as \"0 22 * * 4\" or a rule such as \"patch-tuesday +2d 22:00\"")
	case strings.HasPrefix(strings.ToLower(text), PatchTuesdayKeyword):
		r.pt, err = parsePatchTuesday(text)
	default:
		r.cron, err = parseCron(text)
	}
	if err != nil {
		return Rule{}, err
	}
	return r, nil
}

// LoadLocation loads an IANA time zone; "" is UTC.
func LoadLocation(tz string) (*time.Location, error) {
	if tz == "" || tz == "UTC" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || strings.EqualFold(tz, "local") {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "timezone %q: expected an IANA zone name such as \"Europe/Berlin\" or \"UTC\"", tz)
	}
	return loc, nil
}

// String is the rule as written, with its spaces normalised.
func (r Rule) String() string { return r.text }

// Location is the rule's time zone (UTC for the zero Rule).
func (r Rule) Location() *time.Location {
	if r.loc == nil {
		return time.UTC
	}
	return r.loc
}

// IsZero reports whether r is the zero Rule, which never runs.
func (r Rule) IsZero() bool { return r.cron == nil && r.pt == nil }

// Next returns the first run time strictly after after, or the zero time
// when the rule never runs again (a cron expression naming a day that does
// not exist, such as 30 February).
func (r Rule) Next(after time.Time) time.Time {
	switch {
	case r.cron != nil:
		return r.cron.next(after, r.loc)
	case r.pt != nil:
		return r.pt.next(after, r.loc)
	}
	return time.Time{}
}

// NextN returns up to n run times after after, in order.
func (r Rule) NextN(after time.Time, n int) []time.Time {
	out := make([]time.Time, 0, max(n, 0))
	for len(out) < n {
		t := r.Next(after)
		if t.IsZero() {
			break
		}
		out = append(out, t)
		after = t
	}
	return out
}

// patchTuesday is "patch-tuesday +Nd HH:MM".
type patchTuesday struct {
	days         int
	hour, minute int
}

func parsePatchTuesday(text string) (*patchTuesday, error) {
	const want = `expected "patch-tuesday [+Nd|-Nd] HH:MM", such as "patch-tuesday +2d 22:00"`
	f := strings.Fields(text)
	if !strings.EqualFold(f[0], PatchTuesdayKeyword) {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "rule %q: %s", text, want)
	}
	f = f[1:]
	pt := &patchTuesday{}
	if len(f) == 2 {
		off := f[0]
		n, err := parseOffset(off)
		if err != nil {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "rule %q: day offset %q: %s", text, off, err.Error())
		}
		pt.days = n
		f = f[1:]
	}
	if len(f) != 1 {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "rule %q: %s", text, want)
	}
	tod, err := patchpilot.ParseTimeOfDay(f[0])
	if err != nil || !strings.Contains(f[0], ":") {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "rule %q: time %q: expected a 24-hour time such as \"22:00\"", text, f[0])
	}
	pt.hour, pt.minute = int(tod)/60, int(tod)%60
	return pt, nil
}

// offsetError is the message of a bad day offset.
type offsetError string

func (e offsetError) Error() string { return string(e) }

func parseOffset(s string) (int, error) {
	bad := offsetError("expected a signed number of days such as +2d, +0d or -1d")
	if len(s) < 3 || (s[0] != '+' && s[0] != '-') || (s[len(s)-1] != 'd' && s[len(s)-1] != 'D') {
		return 0, bad
	}
	n, err := strconv.Atoi(s[1 : len(s)-1])
	if err != nil || n < 0 {
		return 0, bad
	}
	if n > MaxOffsetDays {
		return 0, offsetError("expected at most " + strconv.Itoa(MaxOffsetDays) + " days either way")
	}
	if s[0] == '-' {
		n = -n
	}
	return n, nil
}

// PatchTuesday returns the second Tuesday of the month.
func PatchTuesday(year int, month time.Month) time.Time {
	first := time.Date(year, month, 1, 0, 0, 0, 0, time.UTC)
	toTuesday := (int(time.Tuesday) - int(first.Weekday()) + 7) % 7
	return first.AddDate(0, 0, toTuesday+7)
}

func (p *patchTuesday) next(after time.Time, loc *time.Location) time.Time {
	local := after.In(loc)
	// An offset of up to 27 days moves a month's run at most into the
	// month after next, so starting two months back finds the first run
	// after any instant.
	for k := -2; k <= 2; k++ {
		m := time.Date(local.Year(), local.Month()+time.Month(k), 1, 0, 0, 0, 0, time.UTC)
		day := PatchTuesday(m.Year(), m.Month()).AddDate(0, 0, p.days)
		if t := Resolve(day.Year(), day.Month(), day.Day(), p.hour, p.minute, loc); t.After(after) {
			return t
		}
	}
	return time.Time{} // not reached: the month after next always has a run
}

// Resolve returns the instant of a local wall-clock time in loc. A time
// that does not exist (a daylight-saving gap) resolves to the first instant
// after the gap; a time that happens twice resolves to its first
// occurrence.
func Resolve(year int, month time.Month, day, hour, minute int, loc *time.Location) time.Time {
	want := time.Date(year, month, day, hour, minute, 0, 0, time.UTC)
	t := time.Date(year, month, day, hour, minute, 0, 0, loc)
	switch got := wall(t); {
	case got.After(want):
		// Moved forward over the gap: the gap ends where t's zone period
		// starts.
		start, _ := t.ZoneBounds()
		return start
	case got.Before(want):
		// Read with the offset after the gap: the gap ends where t's
		// zone period ends.
		_, end := t.ZoneBounds()
		return end
	}
	// The same wall time may also exist earlier, in the period before a
	// change that set the clocks back.
	start, _ := t.ZoneBounds()
	if start.IsZero() {
		return t
	}
	_, before := start.Add(-time.Nanosecond).Zone()
	_, now := t.Zone()
	if before > now {
		earlier := t.Add(-time.Duration(before-now) * time.Second)
		if earlier.Before(start) && wall(earlier.In(loc)).Equal(want) {
			return earlier
		}
	}
	return t
}

// wall is t's wall clock read as if it were UTC, for comparing wall times.
func wall(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}
