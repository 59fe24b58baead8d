// Package suggest names the known word a mistyped one was meant to be:
// the "did you mean" of every strict decoder's "unknown key" error.
package suggest

import "strings"

// DidYouMean names the known words within two edits of a mistyped one, or
// that it shortens (three letters at least: "crit" for critical), as
// " (did you mean concurrency?)", or "" when none is that close.
func DidYouMean(word string, known []string) string {
	var close []string
	for _, k := range known {
		if Distance(word, k) <= 2 || len(word) >= 3 && strings.HasPrefix(k, word) {
			close = append(close, k)
		}
	}
	if len(close) == 0 {
		return ""
	}
	return " (did you mean " + strings.Join(close, " or ") + "?)"
}

// Distance is the Levenshtein distance between a and b, by bytes: how far
// a mistyped name is from a known one.
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
