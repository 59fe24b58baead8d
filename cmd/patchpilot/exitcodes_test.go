package main

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// TestExitCodesDocumented checks that docs/cli.md's table, the root help
// and the exit code constants list the same codes.
func TestExitCodesDocumented(t *testing.T) {
	want := []int{patchpilot.ExitOK, patchpilot.ExitFailure, patchpilot.ExitUsage, patchpilot.ExitPartial,
		patchpilot.ExitNotFound, patchpilot.ExitUnavailable, patchpilot.ExitDenied, patchpilot.ExitHalted, patchpilot.ExitRolledBack,
		patchpilot.ExitWaitingApproval, patchpilot.ExitPaused, patchpilot.ExitRollbackFailed, patchpilot.ExitCanceled}
	slices.Sort(want)

	data, err := os.ReadFile(repoRoot + "/docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(data), "## Exit codes")
	table, _, _ = strings.Cut(table, "\n## ")
	docs := codesIn(regexp.MustCompile(`(?m)^\| (\d+) \|`), table)
	if !slices.Equal(docs, want) {
		t.Errorf("docs/cli.md lists exit codes %v, the program has %v", docs, want)
	}
	_, help, _ := strings.Cut(rootLong, "Exit codes:")
	if got := codesIn(regexp.MustCompile(`(?m)^  (\d+) +\S`), help); !slices.Equal(got, want) {
		t.Errorf("patchpilot --help lists exit codes %v, the program has %v", got, want)
	}
}

func codesIn(re *regexp.Regexp, text string) []int {
	var codes []int
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		n, _ := strconv.Atoi(m[1])
		codes = append(codes, n)
	}
	slices.Sort(codes)
	return codes
}
