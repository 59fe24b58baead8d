package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot"
)

func (c *cli) updatesCommand() *cobra.Command {
	var (
		host     string
		security bool
	)
	cmd := &cobra.Command{
		Use:   "updates",
		Short: "List pending updates with the advisories they fix",
		Long: `List the pending updates of each host's latest snapshot, with the CVEs and
severity of the advisories each one fixes (from the package manager and from
OSV records imported with 'patchpilot advisories import').

JSON fields: host, package, source_package, installed_version,
candidate_version, security, advisories: [{id, cves, severity, cvss}].`,
		Example: `  patchpilot updates --security
  patchpilot updates --host web1 -o json`,
		Args: exactArgs(0, "no arguments"),
		RunE: c.withReader(func(cmd *cobra.Command, _ []string, a reader) error {
			updates, err := a.Updates(cmd.Context(), patchpilot.UpdateFilter{Host: host, SecurityOnly: security})
			if err != nil {
				return err
			}
			if updates == nil {
				updates = []patchpilot.HostUpdate{}
			}
			// With --security and none to list, the table says how many
			// other updates wait rather than that none does.
			others := 0
			if f, _ := parseFormat(c.output); security && len(updates) == 0 && f == formatTable {
				all, err := a.Updates(cmd.Context(), patchpilot.UpdateFilter{Host: host})
				if err != nil {
					return err
				}
				others = len(all)
			}
			// A host never collected has no pending update known, which
			// is not the same as none pending.
			uncollected := false
			if f, _ := parseFormat(c.output); host != "" && len(updates) == 0 && f == formatTable {
				sums, err := a.HostSummaries(cmd.Context())
				if err != nil {
					return err
				}
				for _, s := range sums {
					if s.Name == host && s.CollectedAt == nil {
						uncollected = true
					}
				}
			}
			return c.render(updates, func(w io.Writer) {
				if uncollected {
					fmt.Fprintf(w, "No facts were ever collected from %s: its pending updates are unknown; collect them with 'patchpilot inventory collect'.\n", host)
					return
				}
				if len(updates) == 0 && others > 0 {
					them := "them"
					if others == 1 {
						them = "it"
					}
					list := "patchpilot updates"
					if host != "" {
						list += " --host " + host
					}
					fmt.Fprintf(w, "No pending security updates; %s: '%s' lists %s.\n",
						counted(others, "other pending update", "other pending updates"), list, them)
					return
				}
				if len(updates) == 0 {
					fmt.Fprintln(w, "No pending updates.")
					return
				}
				writeUpdateTable(w, updates, host == "")
			})
		}),
	}
	cmd.Flags().StringVar(&host, "host", "", "only this host")
	cmd.Flags().BoolVar(&security, "security", false, "only security updates")
	return cmd
}

func writeUpdateTable(w io.Writer, updates []patchpilot.HostUpdate, withHost bool) {
	if withHost {
		fmt.Fprint(w, "HOST\t")
	}
	fmt.Fprintln(w, "PACKAGE\tINSTALLED\tCANDIDATE\tSECURITY\tSEVERITY\tCVES")
	for _, u := range updates {
		if withHost {
			fmt.Fprintf(w, "%s\t", u.Host)
		}
		sec := "no"
		if u.Security {
			sec = "yes"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Package, dash(u.InstalledVersion), u.CandidateVersion, sec,
			dash(worstSeverity(u.Advisories)), dash(cveList(u.Advisories, 3)))
	}
}

func worstSeverity(refs []patchpilot.AdvisoryRef) string {
	best, rank := "", 0
	var cvss float64
	for _, r := range refs {
		if k := patchpilot.Severity(r.Severity).Rank(); k > rank || (k == rank && best == "") {
			best, rank = r.Severity, k
		}
		if r.CVSS > cvss {
			cvss = r.CVSS
		}
	}
	if cvss > 0 {
		best += " (" + strconv.FormatFloat(cvss, 'f', 1, 64) + ")"
	}
	return best
}

func cveList(refs []patchpilot.AdvisoryRef, max int) string {
	var cves []string
	seen := map[string]bool{}
	for _, r := range refs {
		for _, c := range r.CVEs {
			if !seen[c] {
				seen[c] = true
				cves = append(cves, c)
			}
		}
	}
	if len(cves) > max {
		return strings.Join(cves[:max], ",") + fmt.Sprintf(" +%d", len(cves)-max)
	}
	return strings.Join(cves, ",")
}
