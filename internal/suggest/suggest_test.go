package suggest

import "testing"

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"", "abc", 3}, {"abc", "", 3}, {"hold", "hodl", 2},
		{"concurrency", "concurency", 1}, {"crit", "critical", 4}, {"kitten", "sitting", 3},
	} {
		if got := Distance(c.a, c.b); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := Distance(c.b, c.a); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d (not symmetric)", c.b, c.a, got, c.want)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	known := []string{"hold", "hosts", "level", "after", "afterwards"}
	for word, want := range map[string]string{
		"hodl":    " (did you mean hold?)",
		"host":    " (did you mean hold or hosts?)",
		"levle":   " (did you mean level?)",
		"timeout": "",
		"aft":     " (did you mean after or afterwards?)",
		"le":      "",
		"":        "",
	} {
		if got := DidYouMean(word, known); got != want {
			t.Errorf("DidYouMean(%q) = %q, want %q", word, got, want)
		}
	}
}
