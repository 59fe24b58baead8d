package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
	"github.com/patchpilot/patchpilot/internal/server"
)

func (c *cli) policyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Explain what the server's policy lets a plan do",
		Long: `The policy is the policy: section of patchpilot.yaml, owned by admins: host
groups with an automation level (advisor, supervised, autopilot),
auto-approval of updates after a delay, held packages, promotion between
environments and two approvers for critical hosts. Critical hosts and
high-risk updates always need a person; a plan cannot waive any of it. See
docs/policy.md.`,
	}
	cmd.AddCommand(c.policyCheckCommand())
	return cmd
}

func (c *cli) policyCheckCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "check PLAN",
		Short: "Explain, rule by rule, what decides each stage and host of a plan",
		Long: `Evaluate the server's policy on a plan over the stored hosts, exactly as
'rollout start' applies it, and explain rule by rule what decided each stage
and each host, and whether the plan may start without a person.

Rules: group (which group a host is in, and its level), hold (a held package
sent to a group that holds it: refused), promotion (an update reaching hosts
before it succeeded long enough where it must first: refused), critical
(critical hosts always need a person), high_risk (high-risk updates always
need a person), auto_approve (an update not yet auto-approved holds the first
stage that installs it, until the time shown), compliance (the rules of the
regimes hosts' compliance labels name: "compliance pci: ..."), two_approvers
and plan (the plan's own approvals). A compliance label naming a regime the
policy does not define is a warning.

Exit code 0 when the plan may run, even if some stages will wait for
approvals; 6 when the policy refuses it. JSON fields: plan, decision (allow
or refuse), unattended, unattended_reason, stages: [{name, hosts, decision,
approvers, until, findings: [{rule, decision, reason, until}], reasons}],
hosts: [{host, stage, group, level, decision, findings}], warnings. A stage's
reasons say why its hosts are where they are, as 'plan' explains them
(canary coverage, the dependency order, the budgets that hold them); a
budget whose service or selector covers none of the targets is a warning.`,
		Example: `  patchpilot policy check plan.yaml
  patchpilot policy check plan.yaml -o json | jq '.stages[] | {name, decision}'`,
		Args: exactArgs(1, "the plan file"),
		RunE: c.orRemote(func(cmd *cobra.Command, args []string, cl *server.Client) error {
			_, source, err := app.ReadPlan(args[0])
			if err != nil {
				return err
			}
			rep, err := cl.CheckPolicy(cmd.Context(), source)
			if err != nil {
				return err
			}
			return c.showPolicyReport(args[0], rep)
		}, c.withReadApp(func(cmd *cobra.Command, args []string, a *app.App) error {
			p, _, err := app.ReadPlan(args[0])
			if err != nil {
				return err
			}
			rep, err := a.CheckPolicy(cmd.Context(), p)
			if err != nil {
				return err
			}
			return c.showPolicyReport(args[0], rep)
		})),
	}
}

// showPolicyReport prints a policy report and turns a refusal into its
// exit code.
func (c *cli) showPolicyReport(file string, rep app.PolicyReport) error {
	if err := c.render(rep, func(w io.Writer) { writePolicyReport(w, rep) }); err != nil {
		return err
	}
	if rep.Decision == app.PolicyRefuse {
		return patchpilot.Errorf(patchpilot.EFORBIDDEN, "the server's policy refuses plan %s: %s", file, strings.Join(rep.Refusals(), "; ")).
			WithHint("the policy lives in the policy: section of patchpilot.yaml; change the plan's targets or packages, or ask an admin")
	}
	return nil
}

// writePolicyReport renders the report as the table output: the verdict,
// then each stage with its findings, then each host with its own.
func writePolicyReport(w io.Writer, rep app.PolicyReport) {
	verdict := "may run"
	if rep.Decision == app.PolicyRefuse {
		verdict = "refused"
	}
	fmt.Fprintf(w, "PLAN\t%s\n", dash(rep.Plan))
	fmt.Fprintf(w, "VERDICT\t%s\n", verdict)
	unattended := "no"
	if rep.Unattended {
		unattended = "yes"
	}
	fmt.Fprintf(w, "UNATTENDED\t%s: %s\n", unattended, rep.UnattendedReason)
	for _, warning := range rep.Warnings {
		fmt.Fprintf(w, "WARNING\t%s\n", warning)
	}
	fmt.Fprintln(w)
	// The stages' hosts and why they are where they are, as 'plan'
	// explains them.
	fmt.Fprintln(w, "STAGE\tHOSTS\tWHY")
	for _, s := range rep.Stages {
		fmt.Fprintf(w, "%s\t%s\t", s.Name, strings.Join(s.Hosts, ", "))
		if len(s.Reasons) == 0 {
			fmt.Fprintln(w, "-")
		}
		for i, r := range s.Reasons {
			if i > 0 {
				fmt.Fprint(w, "\t\t")
			}
			fmt.Fprintln(w, r)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "STAGE\tDECISION\tRULE\tREASON")
	for _, s := range rep.Stages {
		decision := string(s.Decision)
		if s.Decision == app.PolicyApprove {
			decision = fmt.Sprintf("approve (%d)", s.Approvers)
		}
		if len(s.Findings) == 0 {
			fmt.Fprintf(w, "%s\t%s\t-\tno rule gates it (%s)\n", s.Name, decision, counted(len(s.Hosts), "host", "hosts"))
			continue
		}
		for i, f := range s.Findings {
			name, d := s.Name, decision
			if i > 0 {
				name, d = "", ""
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", name, d, f.Rule, findingText(f))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "HOST\tSTAGE\tGROUP\tDECISION\tRULE\tREASON")
	for _, h := range rep.Hosts {
		for i, f := range h.Findings {
			host, stage, group, d := h.Host, h.Stage, h.Group+" ("+string(h.Level)+")", string(h.Decision)
			if i > 0 {
				host, stage, group, d = "", "", "", ""
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", host, stage, group, d, f.Rule, findingText(f))
		}
	}
}

func findingText(f app.PolicyFinding) string {
	s := f.Reason
	if f.Decision != app.PolicyAllow {
		s = "[" + string(f.Decision) + "] " + s
	}
	if f.Until != nil {
		s += " (until " + f.Until.Local().Format(time.DateTime) + ")"
	}
	return s
}
