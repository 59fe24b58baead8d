package main

import (
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// Shell completion: cobra's 'completion bash|zsh|fish' scripts call the
// program back with __complete, and these functions answer from the store.
// They never fail loudly: when there is nothing to read, the shell offers
// nothing.

// registerCompletions wires the completion functions to the arguments and
// flags that take host names, rollout ids and plan files, in one place
// rather than in each command's constructor.
func (c *cli) registerCompletions(root *cobra.Command) {
	oneHost := func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return c.completeHosts(cmd, args, toComplete)
	}
	args := map[string]cobra.CompletionFunc{
		"patchpilot hosts show":     oneHost,
		"patchpilot deps":           oneHost,
		"patchpilot hosts rm":       c.completeHosts,
		"patchpilot rollout start":  completePlanFile,
		"patchpilot history import": completeHistoryFile,
		"patchpilot token revoke":   c.completeToken,
	}
	for _, sub := range []string{"status", "events", "approve", "pause", "resume", "abort", "rollback"} {
		args["patchpilot rollout "+sub] = c.completeRollout
	}
	flags := map[string]map[string]cobra.CompletionFunc{
		// The root's persistent flags take fixed words.
		"patchpilot": {
			"output":    completeWords("table", "json", "yaml"),
			"log-level": completeWords("debug", "info", "warn", "error"),
		},
		"patchpilot deps":             {"output": completeWords("table", "json", "yaml", "dot")},
		"patchpilot updates":          {"host": c.completeHostFlag},
		"patchpilot assess":           {"host": c.completeHostFlag},
		"patchpilot model explain":    {"host": c.completeHostFlag},
		"patchpilot history":          {"host": c.completeHostFlag, "rollout": c.completeRolloutFlag},
		"patchpilot rollout rollback": {"hosts": c.completeHosts},
		"patchpilot token create":     {"role": completeWords(roleNames()...)},
		"patchpilot audit":            {"rollout": c.completeRolloutFlag},
	}
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		if f, ok := args[cmd.CommandPath()]; ok {
			cmd.ValidArgsFunction = f
		}
		for name, f := range flags[cmd.CommandPath()] {
			// The flags are registered by the constructors; a name
			// that is not there is a bug the completion test catches.
			_ = cmd.RegisterFlagCompletionFunc(name, f)
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// completeWords completes a flag that takes one of words, as the other
// completions do, offering only those that start with what was typed.
func completeWords(words ...string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var out []cobra.Completion
		for _, w := range words {
			if strings.HasPrefix(w, toComplete) {
				out = append(out, w)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completionApp opens the store for a completion, or returns nil when the
// database does not exist yet: pressing TAB must not create one.
func (c *cli) completionApp(cmd *cobra.Command) *app.App {
	o, err := c.options(cmd)
	if err != nil {
		return nil
	}
	if _, err := os.Stat(o.Resolve().DBPath); err != nil {
		return nil
	}
	// Completion only reads: it must work, and change nothing, on a
	// database this user may not write.
	o.ReadOnly = true
	a, err := app.New(cmd.Context(), o)
	if err != nil {
		return nil
	}
	return a
}

// completeHosts completes host names, leaving out those already given.
func (c *cli) completeHosts(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	a := c.completionApp(cmd)
	if a == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer a.Close()
	hosts, err := a.Store.Hosts(cmd.Context())
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, h := range hosts {
		if strings.HasPrefix(h.Name, toComplete) && !slices.Contains(args, h.Name) {
			out = append(out, h.Name)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeHostFlag completes a flag that takes one host name.
func (c *cli) completeHostFlag(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return c.completeHosts(cmd, nil, toComplete)
}

// completeRollout completes the one rollout ID argument, newest first,
// with each rollout's state and plan as the description.
func (c *cli) completeRollout(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return c.completeRolloutFlag(cmd, args, toComplete)
}

// completeRolloutFlag completes a rollout ID wherever it is taken.
func (c *cli) completeRolloutFlag(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	a := c.completionApp(cmd)
	if a == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer a.Close()
	rs, err := a.Store.Rollouts(cmd.Context(), patchpilot.RolloutFilter{})
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, r := range rs {
		if strings.HasPrefix(r.ID, toComplete) {
			out = append(out, cobra.CompletionWithDesc(r.ID, string(r.State)+" "+r.Plan.Name))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
}

// completePlanFile completes the one PLAN argument with YAML files.
func completePlanFile(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return []cobra.Completion{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
}

// completeHistoryFile completes the one FILE of 'history import' with
// JSONL files.
func completeHistoryFile(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return []cobra.Completion{"jsonl", "json"}, cobra.ShellCompDirectiveFilterFileExt
}

// roleNames are the roles a token may have, in order of trust.
func roleNames() []string {
	var out []string
	for _, r := range patchpilot.Roles {
		out = append(out, string(r))
	}
	return out
}

// completeToken completes the one token NAME of 'token revoke' with the
// tokens not yet revoked.
func (c *cli) completeToken(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	a := c.completionApp(cmd)
	if a == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer a.Close()
	tokens, err := a.Tokens(cmd.Context())
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, tk := range tokens {
		if tk.RevokedAt == nil && strings.HasPrefix(tk.Name, toComplete) {
			out = append(out, cobra.CompletionWithDesc(tk.Name, string(tk.Role)))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
