package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// patchSecurity is the --patch value for every pending security update.
const patchSecurity = "security"

// parsePatch reads --patch: "security", or package=version pins separated
// by commas or spaces.
func parsePatch(s string) (patchpilot.PatchSpec, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, patchSecurity) {
		return patchpilot.PatchSpec{SecurityAll: true}, nil
	}
	var spec patchpilot.PatchSpec
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		pin, err := app.ParsePin(f)
		if err != nil {
			return spec, patchpilot.Errorf(patchpilot.EINVALID, "--patch %q: %s", f, err).
				WithHint(`give package=version pins separated by commas, or "security" for every pending security update`)
		}
		spec.Packages = append(spec.Packages, pin)
	}
	if len(spec.Packages) == 0 {
		return spec, patchpilot.Errorf(patchpilot.EINVALID, "--patch is empty").
			WithHint(`give package=version pins separated by commas, or "security"`)
	}
	return spec, nil
}

// planResult is what 'plan -o json|yaml' prints: the plan file's text with
// what it was sized for.
type planResult struct {
	// ID is the stored plan's id, when a server stored it.
	ID      string   `json:"id,omitempty"`
	File    string   `json:"file,omitempty"`
	Targets []string `json:"targets"`
	LeftOut []string `json:"left_out"`
	// LeftOutReasons says why each host of LeftOut was left out: it never
	// answered, or the patch is quarantined on its class.
	LeftOutReasons []app.LeftOutHost `json:"left_out_reasons"`
	Level          string            `json:"level"`
	Header         []string          `json:"header"`
	// Stages are the stages resolved over the targets now: hosts in
	// dispatch order and the reasons (canary coverage, dependency order).
	Stages []app.ProposedStage `json:"stages"`
	Plan   string              `json:"plan"`
}

func (c *cli) planCommand() *cobra.Command {
	var (
		patch            string
		targets          string
		outFile          string
		allowQuarantined bool
	)
	cmd := &cobra.Command{
		Use:   "plan --patch SPEC [--targets SELECTOR] [--out FILE]",
		Short: "Write a rollout plan for a patch, sized for its targets and risk",
		Long: `Write a rollout plan (YAML) for a patch over the known hosts the selector
matches. The stages (validation host, canaries, waves, final), bakes and
failure limits are chosen from the number of targets and the risk model's
strategy for the patch on those hosts (the trained model, or the cold-start
model of public priors before 'patchpilot model train'):
immediate_full_deploy gives a low-risk plan (validation host, then big
steps), canary a medium-risk plan (canary stage, waves), and
manual_review_required a high-risk plan (small waves, long bakes, approval
before the first and the last stage). The plan starts with comments naming
the model version, the probability, its reasons and warnings, and the
rule-based baseline's score beside them, then each stage's hosts as they
resolve now with the reasons. Canary hosts cover the targets'
configurations (OS version, role, and which of the patch's packages they
run and depend on), least critical first. Hosts that other fleet hosts
depend on (the dependency map: observed connections and depends_on labels)
stay out of the canary stages while other hosts can fill them, and go after
their dependents ("lab02 after lab01: lab01:pp-demo-client depends on
lab02:pp-demo-web:8080"); a plan's order: {dependencies: providers_first}
or {dependencies: ignore} says otherwise. Each stage's reasons also name the
disruption budgets that hold its hosts, and a budget whose service or
selector covers none of the targets is a warning (in the header and on
standard error). 'policy check PLAN' and 'rollout start PLAN' explain a
hand-written plan's stages the same way. The criteria a stage may name are
listed under "Plan criteria" in docs/cli.md.

SPEC is package=version pins separated by commas ("openssl=3.0.15-1~deb12u1,
libssl3=3.0.15-1~deb12u1"), or "security" for every pending security update
of each host. SELECTOR is an expression over labels and facts such as
"env=prod,role!=db,os=debian:12"; empty selects every known host that has
answered once: hosts whose facts were never collected (an inventory entry
that was never reached) are left out, and the command says which. A selector
or a name reaches them.

--out FILE writes the plan to FILE; without it the plan goes to standard
output. With -o json or -o yaml, standard output gets a document instead:
file (with --out), targets, left_out (the hosts left out: never answered, or
the patch is quarantined on their class), left_out_reasons ({host, reason}
for each), level, header (the comment lines), stages (name, hosts and
reasons of each stage) and plan (the plan's YAML).

When other hosts depend on a target (the dependency map, 'patchpilot
deps'), every stage gets the dependents_reachable criterion: after a host's
change, the hosts that depend on it check over their own SSH connection that
its ports still answer. The plan's header says so; remove the criterion from
a stage to turn it off.

A version that failed on a class of hosts (OS release and role) in an
earlier rollout is quarantined there ('patchpilot quarantine list'): the
plan leaves out the targets of that class, naming each with the failure and
the command that clears it (in the header and on standard error), and the
plan's targets list the hosts kept. When every target is quarantined the
command exits 6. --allow-quarantined keeps them, with a warning.

Edit the plan as needed, then run it with 'patchpilot rollout start FILE'.
Beyond what this command writes, a plan may stop a wave on the team's own
alerts (health.alertmanager and the no_firing_alerts criterion), read its
metrics from Datadog (health.datadog), check each host with Puppet
(puppet_noop), make the change with an Ansible playbook (apply:) and run
hooks before and after it (hooks:); see docs/integrations.md.`,
		Example: `  patchpilot plan --patch pp-demo-web=1.1.0 --targets env=lab --out plan.yaml
  patchpilot plan --patch security --targets role=web
  patchpilot plan --patch security -o json | jq -r .plan`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := parsePatch(patch)
			if err != nil {
				return err
			}
			if targets != "" {
				if err := app.CheckSelector(targets); err != nil {
					return err
				}
			}
			if c.isRemote(cmd) {
				return c.orRemote(c.remotePlan(&patch, &targets, &outFile, allowQuarantined), nil)(cmd, args)
			}
			a, err := c.openStore(cmd, true)
			if err != nil {
				return err
			}
			defer a.Close()
			prop, err := a.ProposePlanWith(cmd.Context(), spec, targets, app.ProposeOptions{AllowQuarantined: allowQuarantined})
			if err != nil {
				return err
			}
			data, err := app.MarshalPlan(prop.Plan)
			if err != nil {
				return err
			}
			var b strings.Builder
			// Comment lines: a newline in a host name must not end the
			// comment, nor an escape sequence reach the terminal.
			fmt.Fprintf(&b, "# %s: %s\n", counted(len(prop.Targets), "target", "targets"), escapeControls(strings.Join(prop.Targets, ", "), false))
			for _, line := range prop.Header {
				fmt.Fprintf(&b, "# %s\n", escapeControls(line, false))
			}
			if n := len(prop.LeftOut); n > 0 {
				// Said on stderr too: a person running the command sees it
				// even when the plan goes to a file or a pipe.
				note := fmt.Sprintf("left out %s that never answered (no facts collected): %s", counted(n, "host", "hosts"), escapeControls(strings.Join(prop.LeftOut, ", "), false))
				fmt.Fprintf(&b, "# %s\n", note)
				fmt.Fprintf(c.stderr, "%s; collect them with 'patchpilot inventory collect', or name them with --targets\n", note)
			}
			for _, w := range prop.Warnings {
				// In the header already; said on stderr too, as above.
				fmt.Fprintf(c.stderr, "warning: %s\n", escapeControls(w, false))
			}
			fmt.Fprintf(&b, "# plan shape: %s risk\n", prop.Level)
			b.Write(data)
			res := planResult{Targets: prop.Targets, LeftOut: []string{}, LeftOutReasons: prop.AllLeftOut(), Level: string(prop.Level),
				Header: prop.Header, Stages: prop.Stages, Plan: b.String()}
			for _, h := range res.LeftOutReasons {
				res.LeftOut = append(res.LeftOut, h.Host)
			}
			if outFile != "" && outFile != "-" {
				if err := writeOutFile("--out", outFile, []byte(res.Plan)); err != nil {
					return err
				}
				res.File = outFile
				fmt.Fprintf(c.stderr, "wrote %s: %s over %s, risk %s\n", outFile, counted(len(prop.Plan.Stages), "stage", "stages"), counted(len(prop.Targets), "host", "hosts"), prop.Level)
			}
			if f, _ := parseFormat(c.output); f != formatTable {
				return c.render(res, nil)
			}
			if res.File == "" {
				// The plan as it is, not through the table writer: its
				// comments may hold tabs.
				_, err = fmt.Fprint(c.stdout, res.Plan)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&patch, "patch", "", `what to install: package=version pins separated by commas, or "security"`)
	f.StringVar(&targets, "targets", "", "selector over labels and facts (default: every host collected once)")
	f.StringVar(&outFile, "out", "", "write the plan to FILE (default: standard output)")
	f.BoolVar(&allowQuarantined, "allow-quarantined", false, "keep the targets on whose class the patch is quarantined ('patchpilot quarantine list'), with a warning")
	_ = cmd.MarkFlagRequired("patch")
	return cmd
}

// counted writes a count with its noun: "1 host", "2 hosts".
func counted(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
