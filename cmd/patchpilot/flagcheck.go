package main

import (
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot"
)

// notNegative makes cmd refuse a negative value of the integer flag
// before it opens anything, naming the flag; the store would otherwise
// refuse it later in its own words ("outcomes: negative limit -3").
func notNegative(cmd *cobra.Command, flag string, v *int) {
	cmd.PreRunE = func(*cobra.Command, []string) error {
		if *v < 0 {
			return patchpilot.Errorf(patchpilot.EINVALID, "--%s %d: expected 0 (no limit) or a positive number", flag, *v)
		}
		return nil
	}
}

// parseErrorText matches the part of pflag's error for a value it could
// not parse that comes from Go's parsers: `strconv.ParseInt: parsing "x":
// invalid syntax`, `time: invalid duration "x"`.
var parseErrorText = regexp.MustCompile(`(strconv\.Parse(Int|Uint|Bool|Float): parsing "[^"]*": .*|time: (invalid|unknown unit|missing unit).*)$`)

// plainFlagError says in words what a flag takes when pflag could not
// parse its value, instead of the Go parser's message.
func plainFlagError(msg string) string {
	m := parseErrorText.FindStringSubmatchIndex(msg)
	if m == nil {
		return msg
	}
	found := msg[m[0]:]
	want := "expected a duration such as 30s, 10m or 1h"
	switch {
	case strings.HasSuffix(found, "value out of range"):
		want = "expected a smaller number"
	case strings.HasPrefix(found, "strconv.ParseBool"):
		want = "expected true or false"
	case strings.HasPrefix(found, "strconv.ParseFloat"):
		want = "expected a number"
	case strings.HasPrefix(found, "strconv."):
		want = "expected a whole number"
	}
	return msg[:m[0]] + want
}
