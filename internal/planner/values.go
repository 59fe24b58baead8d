package planner

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Package names and versions end up as arguments of apt-get and dnf, so they
// are held to the characters those tools use: Debian policy's names and
// versions (with epoch, '~' and '+'), and RPM's, which add '_' and capitals.
var (
	pinName    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9+._-]*$`)
	pinVersion = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.+~:_-]*$`)
	nameRE     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
)

// ParsePin reads "name=version".
func ParsePin(s string) (patchpilot.PackagePin, error) {
	name, version, ok := strings.Cut(s, "=")
	if !ok || !pinName.MatchString(name) || !pinVersion.MatchString(version) {
		return patchpilot.PackagePin{}, patchpilot.Errorf(patchpilot.EINVALID,
			"bad package pin %q: expected name=version, e.g. openssl=3.0.15-1~deb12u1", s)
	}
	return patchpilot.PackagePin{Name: name, Version: version}, nil
}

// ParseTargetCount reads a stage size: a count of at least 1 ("5"), a
// percentage above 0 and at most 100 ("20%"), or "rest".
func ParseTargetCount(s string) (patchpilot.TargetCount, error) {
	const expect = `expected a number of hosts (5), a percentage (20%) or "rest"`
	switch {
	case s == "rest":
		return patchpilot.TargetsRest(), nil
	case strings.HasSuffix(s, "%"):
		p, err := parsePercent(s)
		if err != nil || p <= 0 {
			return patchpilot.TargetCount{}, patchpilot.Errorf(patchpilot.EINVALID, "invalid targets %q: a percentage must be above 0%% and at most 100%%", s)
		}
		return patchpilot.TargetsPercent(p), nil
	}
	n, err := parseInt(s)
	if err != nil {
		return patchpilot.TargetCount{}, patchpilot.Errorf(patchpilot.EINVALID, "invalid targets %q: %s", s, expect)
	}
	if n < 1 {
		return patchpilot.TargetCount{}, patchpilot.Errorf(patchpilot.EINVALID, "invalid targets %q: a stage needs at least 1 host", s)
	}
	return patchpilot.TargetsCount(n), nil
}

// ParseLimit reads a count of at least min ("1") or a percentage from 0 to
// 100 ("10%").
func ParseLimit(s string, min int) (patchpilot.Limit, error) {
	if strings.HasSuffix(s, "%") {
		p, err := parsePercent(s)
		if err != nil || (min > 0 && p <= 0) {
			return patchpilot.Limit{}, patchpilot.Errorf(patchpilot.EINVALID, "invalid limit %q: a percentage must be between 0%% and 100%%", s)
		}
		return patchpilot.LimitPercent(p), nil
	}
	n, err := parseInt(s)
	if err != nil || n < min {
		return patchpilot.Limit{}, patchpilot.Errorf(patchpilot.EINVALID, "invalid limit %q: expected a number of hosts of at least %d or a percentage such as 10%%", s, min)
	}
	return patchpilot.LimitCount(n), nil
}

// parsePercent reads "12.5%" as 12.5 and checks it is at most 100.
func parsePercent(s string) (float64, error) {
	num := strings.TrimSuffix(s, "%")
	if num == "" || strings.ContainsAny(num, "eExXpP_") {
		return 0, errors.New("bad percentage")
	}
	p, err := strconv.ParseFloat(num, 64)
	if err != nil || !finite(p) || p < 0 || p > 100 {
		return 0, errors.New("bad percentage")
	}
	return p, nil
}

// parseInt reads a decimal whole number, refusing the octal, hex and
// underscore forms that strconv would otherwise accept with base 0.
func parseInt(s string) (int, error) {
	if s == "" || len(s) > 9 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	return strconv.Atoi(s)
}

// ParseDuration reads a non-negative duration such as 90s, 10m, 1h or 1h30m.
func ParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, patchpilot.Errorf(patchpilot.EINVALID, "invalid duration %q: expected e.g. 90s, 10m, 1h", s)
	}
	return d, nil
}

// FormatDuration writes a duration the way plans spell them: "90s" stays
// "1m30s", whole hours are "1h", and zero is "0s".
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	s := d.String()
	// time.Duration.String writes "1h0m0s"; drop the zero components.
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// weekdays maps the accepted day names to days.
var weekdayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseWeekday reads a day of the week: "mon" or "monday", in any case.
func ParseWeekday(s string) (time.Weekday, error) {
	l := strings.ToLower(s)
	for i, short := range weekdayNames {
		full := strings.ToLower(time.Weekday(i).String())
		if l == short || l == full {
			return time.Weekday(i), nil
		}
	}
	return 0, patchpilot.Errorf(patchpilot.EINVALID, "unknown day %q: expected mon, tue, wed, thu, fri, sat or sun", s)
}

func weekdayName(d time.Weekday) string { return weekdayNames[int(d)%7] }

// validName reports whether s may name a stage.
func validName(s string) bool { return nameRE.MatchString(s) }

func joinActions() string {
	var names []string
	for _, a := range patchpilot.FailureActions() {
		names = append(names, string(a))
	}
	return strings.Join(names, ", ")
}

// message returns the text of an error without its code decoration, for
// embedding in a located plan error.
func message(err error) string {
	var e *patchpilot.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}
