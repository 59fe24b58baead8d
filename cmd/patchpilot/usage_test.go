package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// runIn runs the command in this process, with the test's environment:
// faster than the binary, for tests that need no signals or exit status
// of a real process.
func (e *env) runIn(args ...string) result {
	e.t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, e.vars, strings.NewReader(""), &stdout, &stderr)
	return result{stdout.String(), stderr.String(), code}
}

// TestMistypedSubcommand checks that a mistyped command exits 2 with the
// command it was probably meant to be, in every command group, and that a
// group named alone still prints its help.
func TestMistypedSubcommand(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"verison"}, "did you mean 'patchpilot version'?"},
		{[]string{"rollout", "strat"}, "did you mean 'patchpilot rollout start'?"},
		{[]string{"inventory", "colect"}, "did you mean 'patchpilot inventory collect'?"},
		{[]string{"model", "tran"}, "did you mean 'patchpilot model train'?"},
		{[]string{"advisories", "imprt"}, "did you mean 'patchpilot advisories import'?"},
		{[]string{"lab", "upp"}, "did you mean 'patchpilot lab up'?"},
		{[]string{"hosts", "shwo"}, "did you mean 'patchpilot hosts show'?"},
		{[]string{"history", "exprot"}, "did you mean 'patchpilot history export'?"},
		{[]string{"token", "creat"}, "did you mean 'patchpilot token create'?"},
		{[]string{"rollout", "zzzzzz"}, `unknown command "zzzzzz" for "patchpilot rollout"`},
		// With the subcommand's flags after it, the subcommand is still
		// the mistake, not its flag.
		{[]string{"inventory", "colect", "--local"}, "did you mean 'patchpilot inventory collect'?"},
		{[]string{"rollout", "strat", "plan.yaml", "--dry-run"}, "did you mean 'patchpilot rollout start'?"},
		{[]string{"hots", "--security"}, "did you mean 'patchpilot hosts'?"},
	}
	for _, tt := range tests {
		r := e.runIn(tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("patchpilot %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.want)
		}
		if r.stdout != "" {
			t.Errorf("patchpilot %s printed on stdout:\n%s", strings.Join(tt.args, " "), r.stdout)
		}
	}
	for _, group := range []string{"rollout", "inventory", "model", "lab", "advisories"} {
		if r := e.runIn(group); r.code != 0 || !strings.Contains(r.stdout, "Available Commands") {
			t.Errorf("patchpilot %s: exit %d, want 0 and its help:\n%s%s", group, r.code, r.stdout, r.stderr)
		}
	}
}

// TestVersionFlag checks that --version prints what 'version' prints, in
// every output format.
func TestVersionFlag(t *testing.T) {
	e := newEnv(t)
	for _, format := range []string{"table", "json"} {
		want := e.runIn("version", "-o", format)
		got := e.runIn("--version", "-o", format)
		if got.code != 0 || want.code != 0 || got.stdout != want.stdout || got.stdout == "" {
			t.Errorf("-o %s: --version exit %d %q, version exit %d %q; want the same output", format, got.code, got.stdout, want.code, want.stdout)
		}
	}
}

// TestFlagErrorHintNamesTheCommand checks the hint of a bad flag: the
// command's full path, never "patchpilot patchpilot" or a path without its
// group.
func TestFlagErrorHintNamesTheCommand(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		args []string
		hint string
	}{
		{[]string{"--bogus"}, "hint: see 'patchpilot --help'"},
		{[]string{"inventory", "collect", "--bogus"}, "hint: see 'patchpilot inventory collect --help'"},
		{[]string{"rollout", "status", "--bogus"}, "hint: see 'patchpilot rollout status --help'"},
		{[]string{"plan"}, "hint: see 'patchpilot plan --help'"},
		{[]string{"completion", "bsh"}, "hint: see 'patchpilot completion --help'"},
	}
	for _, tt := range tests {
		r := e.runIn(tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.hint) {
			t.Errorf("patchpilot %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.hint)
		}
	}
}

// TestMistypedFlagIsSuggested: an unknown flag close to one the command
// takes (its own or an inherited one) names it; one close to none names
// none.
func TestMistypedFlagIsSuggested(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		args []string
		want string // "" for no suggestion
	}{
		{[]string{"plan", "--patch", "security", "--taregts", "x"}, "unknown flag: --taregts; did you mean --targets?"},
		{[]string{"inventory", "collect", "--limt", "web"}, "did you mean --limit?"},
		{[]string{"hosts", "--outptu", "json"}, "did you mean --output?"},
		{[]string{"plan", "--tar", "x"}, "did you mean --targets?"},
		{[]string{"plan", "--zzzzzz"}, ""},
		// A long flag given with one dash.
		{[]string{"plan", "-patch", "security"}, "unknown shorthand flag: 'p' in -patch; did you mean --patch?"},
		{[]string{"plan", "-targets=x"}, "did you mean --targets?"},
		{[]string{"hosts", "-zzzzzz"}, ""},
	}
	for _, tt := range tests {
		r := e.runIn(tt.args...)
		if r.code != 2 {
			t.Errorf("patchpilot %s: exit %d, want 2", strings.Join(tt.args, " "), r.code)
		}
		if tt.want == "" && strings.Contains(r.stderr, "did you mean") || tt.want != "" && !strings.Contains(r.stderr, tt.want) {
			t.Errorf("patchpilot %s: stderr %q, want %q", strings.Join(tt.args, " "), r.stderr, tt.want)
		}
	}
}

// TestEveryGroupRejectsTypos walks the command tree: every command that
// has subcommands exits 2 for a misspelt one and names the one it
// resembles.
func TestEveryGroupRejectsTypos(t *testing.T) {
	e := newEnv(t)
	groups := 0
	var walk func(cmd *cobra.Command, path []string)
	walk = func(cmd *cobra.Command, path []string) {
		for _, sub := range cmd.Commands() {
			if sub.Hidden || sub.Name() == "help" {
				continue
			}
			walk(sub, append(append([]string{}, path...), sub.Name()))
		}
		if !cmd.HasAvailableSubCommands() {
			return
		}
		groups++
		var target string
		for _, sub := range cmd.Commands() {
			if !sub.Hidden && len(sub.Name()) > 3 {
				target = sub.Name()
				break
			}
		}
		if target == "" {
			return
		}
		typo := target[:len(target)-1] + "x"
		r := e.runIn(append(append([]string{}, path...), typo)...)
		want := "did you mean '" + strings.Join(append([]string{"patchpilot"}, path...), " ") + " " + target + "'"
		if r.code != 2 || !strings.Contains(r.stderr, want) {
			t.Errorf("patchpilot %s %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(path, " "), typo, r.code, r.stderr, want)
		}
	}
	walk((&cli{}).rootCommand(), nil)
	if groups < 8 {
		t.Errorf("walked %d command groups, want the root, inventory, hosts, rollout, model, lab, history, advisories and completion", groups)
	}
}

// TestGroupSummariesNameTheirCommands: a command group whose summary
// starts with a list of verbs ("List, test and retry ...") has a command
// for each (or one the verb starts or ends with: import-facts, eval), so
// that the summary never offers a command the group lacks.
func TestGroupSummariesNameTheirCommands(t *testing.T) {
	verbs := regexp.MustCompile(`^((?:[A-Za-z]+, )*[A-Za-z]+) and ([a-z]+) `)
	// Verbs that name what a group's commands do together, not one command.
	notCommands := map[string]bool{"inspect": true}
	checked := 0
	for _, g := range (&cli{}).rootCommand().Commands() {
		if !g.HasAvailableSubCommands() {
			continue
		}
		m := verbs.FindStringSubmatch(g.Short)
		if m == nil {
			continue
		}
		checked++
		for _, v := range append(strings.Split(m[1], ", "), m[2]) {
			v = strings.ToLower(v)
			found := notCommands[v]
			for _, sub := range g.Commands() {
				n := sub.Name()
				if !sub.Hidden && (n == v || strings.HasPrefix(n, v+"-") || strings.HasPrefix(v, n)) {
					found = true
				}
			}
			if !found {
				t.Errorf("patchpilot %s: its summary %q names %q, which is none of its commands", g.Name(), g.Short, v)
			}
		}
	}
	if checked < 4 {
		t.Errorf("checked the summaries of %d groups, want those of integrations, inventory, model, quarantine and token", checked)
	}
}

// TestBadFlagValuesSayWhatTheFlagTakes checks that a flag value patchpilot
// cannot use exits 2 naming the flag and what it takes, in words rather
// than Go's parser messages, and before a driving command does anything.
func TestBadFlagValuesSayWhatTheFlagTakes(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"history", "--limit", "abc"}, `"--limit" flag: expected a whole number`},
		{[]string{"history", "--limit", "99999999999999999999"}, `"--limit" flag: expected a smaller number`},
		{[]string{"history", "--limit", "-3"}, "--limit -3: expected 0 (no limit) or a positive number"},
		{[]string{"rollout", "list", "--limit", "-1"}, "--limit -1: expected 0 (no limit) or a positive number"},
		{[]string{"inventory", "collect", "--local", "--accept-new-host-keys=maybe"}, "expected true or false"},
		{[]string{"rollout", "start", "plan.yaml", "--check-interval", "5"}, `"--check-interval" flag: expected a duration such as 30s`},
		{[]string{"rollout", "start", "plan.yaml", "--check-interval", "-5s"}, "--check-interval -5s: expected a duration of at least 1ms"},
		{[]string{"rollout", "resume", "r-x", "--lease-ttl", "0s"}, "--lease-ttl 0s: expected a duration of at least 1s"},
		{[]string{"rollout", "approve", "r-x", "--approval-wait", "-1s"}, "--approval-wait -1s: expected 0"},
	}
	for _, tt := range tests {
		r := e.runIn(tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) || strings.Contains(r.stderr, "strconv") {
			t.Errorf("patchpilot %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.want)
		}
	}
}

// An argument a command does not take is counted in words that agree
// with the number and shown, so that a person sees which word was read
// as one (a package given without its --package, say).
func TestStrayArgumentsAreNamed(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"model", "explain", "openssl"}, `patchpilot model explain expects no arguments, got 1 argument: "openssl"`},
		{[]string{"hosts", "show", "web1", "web2"}, `expects one host NAME, got 2 arguments: "web1", "web2"`},
	}
	for _, tt := range tests {
		r := e.runIn(tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("patchpilot %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.want)
		}
	}
}

// TestMistypedEnvironmentVariableIsNamed: a PATCHPILOT_* variable close
// to one patchpilot reads is named with the one meant, on standard error,
// and the command still runs; a variable far from every known name (a
// secret a configuration names) is not.
func TestMistypedEnvironmentVariableIsNamed(t *testing.T) {
	e := newEnv(t)
	e.vars = append(e.vars, "PATCHPILOT_CONCURENCY=5", "PATCHPILOT_SLACK_WEBHOOK=https://hooks.example/x", "PATCHPILOT_DB="+filepath.Join(e.home, "pp.db"))
	r := e.runIn("hosts")
	want := "warning: PATCHPILOT_CONCURENCY is set, but patchpilot reads no such variable; did you mean PATCHPILOT_CONCURRENCY?"
	if r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("hosts: exit %d, stderr %q; want exit 0 and %q", r.code, r.stderr, want)
	}
	if strings.Count(r.stderr, "warning:") != 1 {
		t.Errorf("hosts: stderr %q; want one warning, for PATCHPILOT_CONCURENCY alone", r.stderr)
	}
}

// TestDurationFlagsSayDuration: every flag that takes a time (a timeout,
// an interval, a TTL, a wait) names its type "duration" in the help, as
// --check-interval does, not "string".
func TestDurationFlagsSayDuration(t *testing.T) {
	checked := 0
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		cmd.LocalFlags().VisitAll(func(f *pflag.Flag) {
			for _, suffix := range []string{"-timeout", "-interval", "-ttl", "-wait"} {
				if !strings.HasSuffix(f.Name, suffix) {
					continue
				}
				checked++
				if typ, _ := pflag.UnquoteUsage(f); typ != "duration" {
					t.Errorf("%s --%s: the help names its type %q, want duration", cmd.CommandPath(), f.Name, typ)
				}
			}
		})
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk((&cli{}).rootCommand())
	if checked < 5 {
		t.Errorf("checked %d time flags, want those of inventory collect, rollout start and server at least", checked)
	}
}
