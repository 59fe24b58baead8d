package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
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
		pin, err := planner.ParsePin(f)
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

func (c *cli) planCommand() *cobra.Command {
	var (
		patch   string
		targets string
		outFile string
	)
	cmd := &cobra.Command{
		Use:   "plan --patch SPEC [--targets SELECTOR] [-o FILE]",
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
rule-based baseline's score beside them. Canary hosts cover the targets'
configurations (OS version, role, and which of the patch's packages they
run and depend on), least critical first.

SPEC is package=version pins separated by commas ("openssl=3.0.15-1~deb12u1,
libssl3=3.0.15-1~deb12u1"), or "security" for every pending security update
of each host. SELECTOR is an expression over labels and facts such as
"env=prod,role!=db,os=debian:12"; empty selects every known host.

Edit the plan as needed, then run it with 'patchpilot rollout start FILE'.`,
		Example: `  patchpilot plan --patch pp-demo-web=1.1.0 --targets env=lab -o plan.yaml
  patchpilot plan --patch security --targets role=web`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			spec, err := parsePatch(patch)
			if err != nil {
				return err
			}
			if targets != "" {
				if _, err := planner.ParseSelector(targets); err != nil {
					return err
				}
			}
			a, err := c.openStore(cmd, true)
			if err != nil {
				return err
			}
			defer a.Close()
			prop, err := a.ProposePlan(cmd.Context(), spec, targets)
			if err != nil {
				return err
			}
			data, err := planner.Marshal(prop.Plan)
			if err != nil {
				return err
			}
			var b strings.Builder
			fmt.Fprintf(&b, "# %d targets: %s\n", len(prop.Targets), strings.Join(prop.Targets, ", "))
			for _, line := range prop.Header {
				fmt.Fprintf(&b, "# %s\n", line)
			}
			fmt.Fprintf(&b, "# plan shape: %s risk\n", prop.Level)
			b.Write(data)
			if outFile == "" || outFile == "-" {
				_, err := fmt.Fprint(c.stdout, b.String())
				return err
			}
			if err := os.WriteFile(outFile, []byte(b.String()), 0o644); err != nil {
				return patchpilot.Errorf(patchpilot.EINVALID, "write plan: %w", err)
			}
			fmt.Fprintf(c.stderr, "wrote %s: %d stages over %d hosts, risk %s\n", outFile, len(prop.Plan.Stages), len(prop.Targets), prop.Level)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&patch, "patch", "", `what to install: package=version pins separated by commas, or "security"`)
	f.StringVar(&targets, "targets", "", "selector over labels and facts (default: every known host)")
	// -o names the file here: a plan is always YAML.
	f.StringVarP(&outFile, "output", "o", "", "write the plan to FILE instead of standard output")
	_ = cmd.MarkFlagRequired("patch")
	return cmd
}
