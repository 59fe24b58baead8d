package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

func (c *cli) hostsCommand() *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "hosts",
		Short: "List the fleet's hosts with their latest facts",
		Long: `List every known host with its OS, kernel, package and update counts from its
latest snapshot, and its standing against its patch SLA (docs/policy.md):
compliant, within_sla, out_of_sla (a pending security update is past its
deadline; 'patchpilot report' lists them) or unknown (never collected).
JSON fields: name, address, os_family, os_name, os_version, kernel, arch,
package_count, pending_update_count, security_update_count,
reboot_required, labels, collected_at, last_collect_failure (when the last
collection failed after the facts shown: at, code, message), sla_state.
Hosts whose last collection failed are marked in the COLLECTED column and
listed under the table with the error. --state keeps the hosts in one SLA
state, as the dashboard's host list does.`,
		Example: `  patchpilot hosts
  patchpilot hosts --state out_of_sla`,
		Args: exactArgs(0, "no arguments (use 'hosts show NAME' for one host)"),
		RunE: c.withReader(func(cmd *cobra.Command, _ []string, a reader) error {
			if state != "" && !slices.Contains(app.SLAStates(), app.SLAState(state)) {
				var names []string
				for _, s := range app.SLAStates() {
					names = append(names, string(s))
				}
				return patchpilot.Errorf(patchpilot.EINVALID, "--state %q: expected one of %s", state, strings.Join(names, ", "))
			}
			all, err := a.HostSummaries(cmd.Context())
			if err != nil {
				return err
			}
			comp, err := a.Compliance(cmd.Context())
			if err != nil {
				return err
			}
			rows := make([]hostRow, 0, len(all))
			sums := make([]patchpilot.HostSummary, 0, len(all))
			for _, s := range all {
				st := app.SLAUnknown
				if hc, ok := comp.Host(s.Name); ok {
					st = hc.State
				}
				if state != "" && st != app.SLAState(state) {
					continue
				}
				rows = append(rows, hostRow{HostSummary: s, SLAState: st})
				sums = append(sums, s)
			}
			return c.render(rows, func(w io.Writer) {
				if len(rows) == 0 && state != "" {
					fmt.Fprintf(w, "No host is %s, of %s.\n", state, counted(len(all), "known host", "known hosts"))
					return
				}
				if len(rows) == 0 {
					fmt.Fprintln(w, "No hosts yet: run 'patchpilot inventory collect -i INVENTORY' or 'patchpilot inventory collect --local'.")
					return
				}
				states := make(map[string]app.SLAState, len(rows))
				for _, r := range rows {
					states[r.Name] = r.SLAState
				}
				writeHostRows(w, sums, states)
				writeCollectFailures(w, sums)
			})
		}),
	}
	cmd.Flags().StringVar(&state, "state", "", "only hosts in this SLA state: compliant, within_sla, out_of_sla or unknown (never collected)")
	cmd.AddCommand(c.hostShowCommand(), c.hostRemoveCommand())
	return cmd
}

// hostsRemoved is what 'hosts rm -o json' prints.
type hostsRemoved struct {
	Removed []string `json:"removed"`
}

func (c *cli) hostRemoveCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME...",
		Aliases: []string{"remove"},
		Short:   "Remove hosts with their facts, keeping their history",
		Long: `Remove the named hosts and their fact snapshots from the store, for hosts
that were decommissioned or renamed. Their history is kept: rollouts,
outcomes ('patchpilot history --host NAME') and the audit log still name
them, and the risk model still learns from them. A host collected again
later comes back without its old facts.

All or nothing: when a name is not a known host (exit 4), or a host is a
target of a rollout that is not finished (exit 1), nothing is removed. The
controller needs every host of a rollout it drives: to roll back or resume
an older rollout that named a removed host, add the host back first
('patchpilot inventory collect').

JSON fields: removed.`,
		Example: `  patchpilot hosts rm web-old-1 web-old-2`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return patchpilot.Errorf(patchpilot.EINVALID, "%s expects one or more host NAMEs", cmd.CommandPath()).
					WithHint(fmt.Sprintf("see '%s --help'", cmd.CommandPath()))
			}
			return nil
		},
		RunE: c.withApp(func(cmd *cobra.Command, args []string, a *app.App) error {
			var names []string
			for _, n := range args {
				if !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
			if err := a.RemoveHosts(cmd.Context(), names); err != nil {
				return err
			}
			res := hostsRemoved{Removed: names}
			return c.render(res, func(w io.Writer) {
				their := "their"
				if len(names) == 1 {
					their = "its"
				}
				fmt.Fprintf(w, "removed %s: %s; %s history is kept\n", counted(len(names), "host", "hosts"), strings.Join(names, ", "), their)
			})
		}),
	}
}

// hostRow is one line of 'hosts': the summary and the SLA state.
type hostRow struct {
	patchpilot.HostSummary
	SLAState app.SLAState `json:"sla_state"`
}

func writeHostTable(w io.Writer, sums []patchpilot.HostSummary) { writeHostRows(w, sums, nil) }

// writeHostRows writes the hosts table, with an SLA column when states
// (by host name) is given.
func writeHostRows(w io.Writer, sums []patchpilot.HostSummary, states map[string]app.SLAState) {
	sla := ""
	if states != nil {
		sla = "SLA\t"
	}
	fmt.Fprintln(w, "NAME\tADDRESS\tOS\tKERNEL\tARCH\tPACKAGES\tUPDATES\tSECURITY\t"+sla+"REBOOT\tLABELS\tCOLLECTED")
	for _, s := range sums {
		osName, collected := "-", "never"
		if s.OSName != "" {
			osName = s.OSName + " " + s.OSVersion
		}
		if s.CollectedAt != nil {
			collected = s.CollectedAt.Local().Format(time.DateTime)
		}
		if f := s.LastCollectFailure; f != nil {
			collected += " (failed " + f.At.Local().Format(time.DateTime) + ")"
		}
		reboot := "no"
		if s.RebootRequired {
			reboot = "yes"
		}
		state := ""
		if states != nil {
			state = string(states[s.Name]) + "\t"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s%s\t%s\t%s\n", s.Name, s.Address, osName, dash(s.Kernel), dash(s.Arch),
			s.PackageCount, s.PendingUpdateCount, s.SecurityUpdateCount, state, reboot, labelsText(s.Labels), collected)
	}
}

// writeCollectFailures says, under the hosts table, which hosts' last
// collection failed after their latest facts, and why: what the table
// shows of them is older than it looks.
func writeCollectFailures(w io.Writer, sums []patchpilot.HostSummary) {
	var failed []patchpilot.HostSummary
	for _, s := range sums {
		if s.LastCollectFailure != nil {
			failed = append(failed, s)
		}
	}
	if len(failed) == 0 {
		return
	}
	fmt.Fprintf(w, "\nThe last collection of %s failed; the facts shown are from the collection before, if any:\n", counted(len(failed), "host", "hosts"))
	const most = 10
	for i, s := range failed {
		if i == most {
			fmt.Fprintf(w, "  and %d more ('patchpilot hosts -o json' lists them as last_collect_failure)\n", len(failed)-most)
			break
		}
		fmt.Fprintf(w, "  %s: %s\n", s.Name, escapeControls(truncate(s.LastCollectFailure.Message, 200), false))
	}
	fmt.Fprintln(w, "Once what the errors say is fixed, collect them again with 'patchpilot inventory collect'.")
}

// hostDetail is the JSON form of 'hosts show'.
type hostDetail struct {
	patchpilot.HostSummary
	Groups  []string                  `json:"groups"`
	Facts   *patchpilot.Facts         `json:"facts"`
	History []patchpilot.FactSnapshot `json:"history"`
	// Dependencies are the host's part of the dependency map; its
	// services and modifications are in facts.depth.
	Dependencies *app.HostDependencies `json:"dependencies"`
}

func (c *cli) hostShowCommand() *cobra.Command {
	var packages bool
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show one host: connection, labels, latest facts, services, modifications, dependencies, pending updates and history",
		Long: `Show one host: how it is reached, its labels, its latest facts, its services
in depth (unit, owning package and version, listening sockets), what was
changed on it by hand (modified package files, conffiles marked; held and
pinned packages; packages no repository offers), what it depends on and what
depends on it (see 'patchpilot deps HOST'), its pending updates and its
latest snapshots. An unknown NAME exits 4.

JSON fields: those of 'hosts', groups, facts (with facts.depth: services,
listeners, connections, addresses, modified, held, pinned, foreign,
missing), history and dependencies (depends_on, depended_on_by: edges as
'deps -o json' gives them; providers, dependents: hosts and host:service).`,
		Args: exactArgs(1, "one host NAME"),
		RunE: c.withReader(func(cmd *cobra.Command, args []string, a reader) error {
			h, d, updates, err := a.HostShow(cmd.Context(), args[0], packages)
			if err != nil {
				return err
			}
			return c.render(d, func(w io.Writer) { writeHostDetail(w, h, d, updates, packages) })
		}),
	}
	cmd.Flags().BoolVar(&packages, "packages", false, "include the installed package list")
	return cmd
}

// writeCollectFailure writes the host's last failed collection, when it
// came after the facts shown (or the host was never collected).
func writeCollectFailure(w io.Writer, f *patchpilot.CollectFailure, stale bool) {
	if f == nil {
		return
	}
	code := ""
	if f.Code != "" {
		code = " (" + f.Code + ")"
	}
	fmt.Fprintf(w, "Last collection:\tfailed %s%s: %s\n", f.At.Local().Format(time.DateTime), code, escapeControls(f.Message, false))
	if stale {
		fmt.Fprintln(w, "\tthe facts below are from the collection before; collect it again once the error is fixed")
	} else {
		fmt.Fprintln(w, "\tcollect it again once the error is fixed")
	}
}

func writeHostDetail(w io.Writer, h patchpilot.Host, d hostDetail, updates []patchpilot.HostUpdate, packages bool) {
	fmt.Fprintf(w, "Name:\t%s\n", h.Name)
	if app.IsLocalHost(h) {
		// The machine collected with --local is reached through the local
		// runner: a port would suggest an SSH server it does not need.
		fmt.Fprintf(w, "Address:\t%s (this machine, without SSH)\n", h.Target())
	} else {
		fmt.Fprintf(w, "Address:\t%s:%d\n", h.Target(), h.SSHPort())
	}
	fmt.Fprintf(w, "User:\t%s\n", dash(h.User))
	fmt.Fprintf(w, "Groups:\t%s\n", dash(strings.Join(h.Groups, ",")))
	fmt.Fprintf(w, "Labels:\t%s\n", labelsText(h.Labels))
	fmt.Fprintf(w, "Source:\t%s\n", dash(h.Source))
	f := d.Facts
	if f == nil {
		fmt.Fprintln(w, "Facts:\tnever collected")
		writeCollectFailure(w, d.LastCollectFailure, false)
		writeHostDeps(w, d.Dependencies)
		return
	}
	fmt.Fprintf(w, "OS:\t%s (%s %s, family %s)\n", dash(f.OSPretty), f.OSName, f.OSVersion, f.OSFamily)
	fmt.Fprintf(w, "Kernel:\t%s %s\n", f.Kernel, f.Arch)
	fmt.Fprintf(w, "Boot ID:\t%s\n", dash(f.BootID))
	fmt.Fprintf(w, "Collected:\t%s (%s)\n", f.CollectedAt.Local().Format(time.DateTime), f.Source)
	writeCollectFailure(w, d.LastCollectFailure, true)
	fmt.Fprintf(w, "Packages:\t%d\n", d.PackageCount)
	fmt.Fprintf(w, "Updates:\t%d pending, %d security\n", d.PendingUpdateCount, d.SecurityUpdateCount)
	reboot := "no"
	if f.RebootRequired {
		reboot = "yes " + strings.Join(f.RebootPackages, ",")
	}
	fmt.Fprintf(w, "Reboot required:\t%s\n", reboot)
	fmt.Fprintf(w, "Services running:\t%d\n", len(f.Services))
	if len(f.NeedsRestart) > 0 {
		fmt.Fprintf(w, "Needs restart:\t%s\n", strings.Join(f.NeedsRestart, ","))
	}
	writeHostDepth(w, f.Depth, f.CollectedAt)
	writeHostDeps(w, d.Dependencies)
	if len(updates) > 0 {
		fmt.Fprintln(w)
		writeUpdateTable(w, updates, false)
	}
	if packages {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "PACKAGE\tVERSION\tARCH\tSOURCE")
		for _, p := range f.Packages {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", p.Name, p.Version, dash(p.Arch), dash(p.SourceName))
		}
	}
	if len(d.History) > 1 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "SNAPSHOT\tCOLLECTED\tSOURCE\tKERNEL\tPACKAGES\tUPDATES")
		for _, s := range d.History {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%d\n", s.ID, s.CollectedAt.Local().Format(time.DateTime), s.Source, s.Kernel, s.PackageCount, s.UpdateCount)
		}
	}
}
