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

func (c *cli) quarantineCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quarantine",
		Short: "List and clear the versions quarantined after they failed on a class of hosts",
		Long: `A version of a package that was rolled back (or failed, or whose rollback
failed) on a host, for a reason that is the patch's (not an unreachable host,
an injected fault or a manual abort), is quarantined on that host's class:
its OS release and role label, written OS/ROLE ("debian:12/web"; "-" for an
unknown part). 'assess' marks the hosts of that class, and 'plan' leaves
them out (or refuses when every target is quarantined; --allow-quarantined
keeps them). A newer version of the package is not concerned. A person
lifts a quarantine with 'quarantine clear'; a later failure of the same
version on the class quarantines it again. See docs/quarantine.md.`,
	}
	cmd.AddCommand(c.quarantineListCommand(), c.quarantineClearCommand())
	return cmd
}

func (c *cli) quarantineListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the quarantined versions and the classes of hosts they failed on",
		Long: `List each quarantined package version with the class of hosts it failed on,
the latest failure (rollout, host, time, outcome, reason), how many host
patches of it failed there since its last clearance, and the command that
clears it.

JSON fields: a list of {package, version, source_package, class, rollout,
host, time, outcome, reason, failures, clear}.`,
		Example: `  patchpilot quarantine list
  patchpilot quarantine list -o json | jq -r '.[].clear'`,
		Args: exactArgs(0, "no arguments"),
		RunE: c.orRemote(func(cmd *cobra.Command, _ []string, cl *server.Client) error {
			qs, err := cl.Quarantines(cmd.Context())
			if err != nil {
				return err
			}
			return c.renderQuarantines(qs)
		}, c.withReadApp(func(cmd *cobra.Command, _ []string, a *app.App) error {
			qs, err := a.Quarantines(cmd.Context())
			if err != nil {
				return err
			}
			return c.renderQuarantines(qs)
		})),
	}
}

// renderQuarantines prints the quarantines as 'quarantine list' does.
func (c *cli) renderQuarantines(qs []app.Quarantine) error {
	return c.render(qs, func(w io.Writer) {
		if len(qs) == 0 {
			fmt.Fprintln(w, "No version is quarantined.")
			return
		}
		fmt.Fprintln(w, "PACKAGE\tVERSION\tCLASS\tFAILURES\tLAST\tROLLOUT\tHOST\tOUTCOME\tCLEAR WITH")
		for _, q := range qs {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", escapeControls(q.Package, false),
				escapeControls(q.Version, false), escapeControls(string(q.Class), false), q.Failures,
				q.Time.Local().Format(time.DateTime), q.Rollout, escapeControls(q.Host, false), q.Outcome,
				escapeControls(q.Clear, false))
		}
	})
}

func (c *cli) quarantineClearCommand() *cobra.Command {
	var class, reason string
	cmd := &cobra.Command{
		Use:   "clear PACKAGE=VERSION --reason TEXT [--class OS/ROLE]",
		Short: "Offer a quarantined version again to a class of hosts (or all)",
		Long: `Lift the quarantine of PACKAGE=VERSION on the class --class names (OS/ROLE, as
'quarantine list' shows it), or on every class it is quarantined on when
--class is left out. Who cleared it (this machine's user, or the token's
against a server), when and why (--reason, required) are recorded, and the
audit log has the entry (quarantine.clear). A later failure of the same
version on the class quarantines it again.

Exit 2 for a malformed PACKAGE=VERSION or --class, or without --reason; exit 4
when the version is not quarantined (on that class: the hint names the
classes it is quarantined on), or when the database (--db) does not exist.

JSON fields: clearance: {id, package, version, class, reason, cleared_by,
cleared_at}, lifted: the quarantines lifted, as 'quarantine list' shows them.`,
		Example: `  patchpilot quarantine clear pp-demo-web=1.1.3 --class debian:12/web --reason "config fixed on the web hosts"
  patchpilot quarantine clear openssl=3.0.15-1~deb12u1 --reason "fixed upstream in our mirror"`,
		Args: exactArgs(1, "PACKAGE=VERSION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pin, err := app.ParsePin(args[0])
			if err != nil {
				return patchpilot.Errorf(patchpilot.EINVALID, "%q: %s", args[0], err).
					WithHint("name the version as 'patchpilot quarantine list' shows it: PACKAGE=VERSION, such as pp-demo-web=1.1.3")
			}
			req := app.QuarantineClear{Package: pin.Name, Version: pin.Version, Reason: strings.TrimSpace(reason)}
			if req.Reason == "" {
				return patchpilot.Errorf(patchpilot.EINVALID, "quarantine clear %s needs --reason: why the version may be offered again", args[0]).
					WithHint("such as --reason \"config fixed on the web hosts\"; it is recorded with the clearance and in the audit log")
			}
			if cmd.Flags().Changed("class") {
				if req.Class, err = app.ParseClass(class); err != nil {
					return err
				}
			}
			return c.orRemote(func(cmd *cobra.Command, _ []string, cl *server.Client) error {
				res, err := cl.ClearQuarantine(cmd.Context(), req)
				if err != nil {
					return err
				}
				return c.renderCleared(res)
			}, c.withExistingApp(func(cmd *cobra.Command, _ []string, a *app.App) error {
				req.Actor = c.actor(a)
				res, err := a.ClearQuarantine(cmd.Context(), req)
				if err != nil {
					return err
				}
				return c.renderCleared(res)
			}))(cmd, args)
		},
	}
	cmd.Flags().StringVar(&class, "class", "", "the class of hosts: OS/ROLE, such as debian:12/web (default: every class)")
	cmd.Flags().StringVar(&reason, "reason", "", "why the version may be offered again (required; recorded)")
	return cmd
}

// renderCleared prints what 'quarantine clear' lifted.
func (c *cli) renderCleared(res app.QuarantineCleared) error {
	return c.render(res, func(w io.Writer) {
		for _, q := range res.Lifted {
			fmt.Fprintf(w, "cleared %s=%s on %s (%s, last in rollout %s on %s)\n",
				escapeControls(q.Package, false), escapeControls(q.Version, false), escapeControls(string(q.Class), false),
				counted(q.Failures, "failed host patch", "failed host patches"), q.Rollout, escapeControls(q.Host, false))
		}
		fmt.Fprintf(w, "recorded as cleared by %s at %s\n", escapeControls(res.Clearance.ClearedBy, false),
			res.Clearance.ClearedAt.Local().Format(time.DateTime))
	})
}
