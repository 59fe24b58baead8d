package schedule

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// cron is a parsed five-field cron expression. Each field is a bit set of
// the values it matches.
type cron struct {
	minute, hour, dom, month, dow uint64
	// domStar and dowStar record a day field written as "*" (or "*/N"):
	// as in Vixie cron, when both day fields are restricted a day matches
	// either of them, otherwise it must match both.
	domStar, dowStar bool
}

type cronField struct {
	name     string
	min, max int
	names    []string // names of the values from min, if any
}

var cronFields = [5]cronField{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day-of-month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	// 7 is Sunday too, as in most crons.
	{name: "day-of-week", min: 0, max: 7, names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

var cronMacros = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

func parseCron(text string) (*cron, error) {
	expr := text
	if strings.HasPrefix(text, "@") {
		m, ok := cronMacros[strings.ToLower(text)]
		if !ok {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "cron %q: unknown macro; expected one of @hourly, @daily, @weekly, @monthly, @yearly", text)
		}
		expr = m
	}
	f := strings.Fields(expr)
	if len(f) != 5 {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "cron %q: %d fields: expected 5 (minute hour day-of-month month day-of-week), such as \"0 22 * * 4\"", text, len(f))
	}
	var sets [5]uint64
	for i, s := range f {
		set, err := parseCronField(s, cronFields[i])
		if err != nil {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "cron %q: %s", text, err)
		}
		sets[i] = set
	}
	c := &cron{minute: sets[0], hour: sets[1], dom: sets[2], month: sets[3], dow: sets[4],
		domStar: strings.HasPrefix(f[2], "*"), dowStar: strings.HasPrefix(f[4], "*")}
	if c.dow&(1<<7) != 0 {
		c.dow |= 1 // 7 is Sunday
	}
	if !c.canRun() {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "cron %q: day-of-month and month never meet (no such date); expected a day that exists in one of the months", text)
	}
	return c, nil
}

// canRun reports whether some month has a day the expression names, when
// the day of the week does not also admit days.
func (c *cron) canRun() bool {
	if c.domStar || !c.dowStar {
		return true // every day of the month, or any day of the week may match
	}
	days := [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	for m := 1; m <= 12; m++ {
		if c.month&(1<<m) == 0 {
			continue
		}
		for d := 1; d <= days[m]; d++ {
			if c.dom&(1<<d) != 0 {
				return true
			}
		}
	}
	return false
}

// fieldError is what is wrong with one field.
type fieldError struct {
	field, value, msg string
}

func (e *fieldError) Error() string {
	return fmt.Sprintf("%s field %q: %s", e.field, e.value, e.msg)
}

func parseCronField(s string, f cronField) (uint64, error) {
	rangeText := fmt.Sprintf("expected * or numbers from %d to %d", f.min, f.max)
	if f.names != nil {
		rangeText += fmt.Sprintf(" or names (%s-%s)", f.names[0], f.names[len(f.names)-1])
	}
	rangeText += ", as a list (1,15), a range (1-5) or a step (*/15)"
	bad := func(msg string) error {
		if msg == "" {
			msg = rangeText
		}
		return &fieldError{field: f.name, value: s, msg: msg}
	}
	var set uint64
	for _, item := range strings.Split(s, ",") {
		base, stepText, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 || n > f.max {
				return 0, bad(fmt.Sprintf("step %q: expected a number from 1 to %d", stepText, f.max))
			}
			step = n
		}
		lo, hi := f.min, f.max
		if f.name == "day-of-week" && base == "*" {
			hi = 6 // Sunday once
		}
		switch {
		case base == "*":
		case strings.Contains(base, "-"):
			a, b, _ := strings.Cut(base, "-")
			var err error
			if lo, err = cronValue(a, f); err != nil {
				return 0, bad("")
			}
			if hi, err = cronValue(b, f); err != nil {
				return 0, bad("")
			}
			if hi < lo {
				return 0, bad(fmt.Sprintf("range %s: expected the first value not after the second", base))
			}
		default:
			v, err := cronValue(base, f)
			if err != nil {
				return 0, bad("")
			}
			lo = v
			if !hasStep {
				hi = v
			}
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << v
		}
	}
	return set, nil
}

func cronValue(s string, f cronField) (int, error) {
	for i, n := range f.names {
		if strings.EqualFold(s, n) {
			return f.min + i, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < f.min || v > f.max {
		return 0, fmt.Errorf("out of range")
	}
	return v, nil
}

// searchDays bounds the search for the next run: a 29 February comes
// within eight years, and every other date within one.
const searchDays = 366 * 9

func (c *cron) dayMatches(d time.Time) bool {
	if c.month&(1<<uint(d.Month())) == 0 {
		return false
	}
	dom := c.dom&(1<<uint(d.Day())) != 0
	dow := c.dow&(1<<uint(d.Weekday())) != 0
	if !c.domStar && !c.dowStar {
		return dom || dow
	}
	return dom && dow
}

func (c *cron) next(after time.Time, loc *time.Location) time.Time {
	local := after.In(loc)
	first := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, time.UTC)
	// Start a day early: a wall time of the previous day can fall after
	// the instant when the clocks went back across midnight.
	for i := -1; i < searchDays; i++ {
		d := first.AddDate(0, 0, i)
		if !c.dayMatches(d) {
			continue
		}
		for hs := c.hour; hs != 0; hs &= hs - 1 {
			h := bits.TrailingZeros64(hs)
			for ms := c.minute; ms != 0; ms &= ms - 1 {
				m := bits.TrailingZeros64(ms)
				if t := Resolve(d.Year(), d.Month(), d.Day(), h, m, loc); t.After(after) {
					return t
				}
			}
		}
	}
	return time.Time{}
}
