package schedule

import (
	"testing"
	"time"
)

// FuzzParse feeds arbitrary rules and zones to Parse: it never panics, and
// a rule it accepts gives run times that are strictly after the instant
// asked from and strictly increasing.
func FuzzParse(f *testing.F) {
	for _, seed := range []struct{ expr, tz string }{
		{"0 22 * * 4", ""},
		{"*/15 0-6,22-23 1,15 jan-jun mon-fri", "Europe/Berlin"},
		{"patch-tuesday +2d 22:00", "America/New_York"},
		{"patch-tuesday -27d 00:00", "Australia/Lord_Howe"},
		{"@weekly", "Asia/Kolkata"},
		{"0 0 29 2 *", ""},
		{"5/7 */5 */3 */2 7", "Pacific/Chatham"},
	} {
		f.Add(seed.expr, seed.tz, int64(1772323200))
	}
	f.Fuzz(func(t *testing.T, expr, tz string, unix int64) {
		if tz == "Local" || len(tz) > 64 {
			return
		}
		r, err := Parse(expr, tz)
		if err != nil {
			return
		}
		after := time.Unix(unix%(1<<33), 0) // years 1697 to 2242
		prev := after
		for _, next := range r.NextN(after, 3) {
			if !next.After(prev) {
				t.Fatalf("%q in %q: run %s is not after %s", expr, tz, next, prev)
			}
			prev = next
		}
	})
}
