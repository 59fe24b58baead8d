package canary

import (
	"regexp"
	"strconv"
	"time"
)

// rangeSelector matches a PromQL range, [1m] or a subquery's [5m:30s], and
// captures the range.
var rangeSelector = regexp.MustCompile(`\[\s*([0-9][0-9a-z]*)\s*(?::[^\]]*)?\]`)

// QueryWindow returns the longest range of a metric query, the time each
// of its samples summarises: 1m for sum(rate(x[1m])). Samples at a shorter
// step share most of their windows, which the judge must know. It returns
// 0 when the query has no range (each sample is a point value) or a range
// it cannot read; the judge then estimates the autocorrelation from the
// data alone.
func QueryWindow(query string) time.Duration {
	var longest time.Duration
	for _, m := range rangeSelector.FindAllStringSubmatch(query, -1) {
		longest = max(longest, promDuration(m[1]))
	}
	return longest
}

// promDuration reads a Prometheus duration such as 30s, 1m30s, 5m, 2h or
// 1d; 0 when it is not one.
func promDuration(s string) time.Duration {
	units := map[string]time.Duration{
		"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour,
		"d": 24 * time.Hour, "w": 7 * 24 * time.Hour, "y": 365 * 24 * time.Hour,
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		j := i
		for j < len(s) && s[j] >= 'a' && s[j] <= 'z' {
			j++
		}
		n, err := strconv.Atoi(s[:i])
		unit, ok := units[s[i:j]]
		if i == 0 || err != nil || !ok {
			return 0
		}
		total += time.Duration(n) * unit
		s = s[j:]
	}
	return total
}
