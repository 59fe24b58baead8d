package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

func (c *cli) inventoryCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inventory",
		Short: "Collect and import what each host runs and needs",
	}
	cmd.AddCommand(c.collectCommand(), c.importFactsCommand(), c.captureCommand(), c.pruneCommand(), c.sourcesCommand())
	return cmd
}

func (c *cli) collectCommand() *cobra.Command {
	var (
		invPath string
		limit   string
		refresh bool
		noDepth bool
		isLocal bool
		name    string
		source  string
	)
	cmd := &cobra.Command{
		Use:   "collect (-i INVENTORY | --source NAME | --local)",
		Short: "Collect facts, installed packages and pending updates from hosts",
		Long: `Collect facts from every host of an inventory over SSH (or from this machine
with --local): OS and kernel, installed packages, pending updates (security
updates marked), running services and whether a reboot is required.

Each host's snapshot is stored as soon as it is collected; unreachable hosts
are reported with their reason while the others are stored. Host keys are
verified against known_hosts: unknown hosts are refused unless
--accept-new-host-keys is given, and a changed key is always refused.

INVENTORY is an Ansible INI or YAML inventory or a patchpilot host list.
--source NAME reads the hosts from an inventory source of patchpilot.yaml's
integrations (the ServiceNow CMDB, an HTTP endpoint; see 'inventory
sources'): their names, addresses and labels come from it, their facts from
the hosts over SSH, stored under the same names.
--limit takes Ansible patterns: names, groups, globs, "a:b", "!x", "&y".

Exit status: 0 when every host was collected, 3 when some failed, 1 when the
command itself failed or its only host could not be collected (5 when a tool
it needs is missing there, 130 when interrupted).`,
		Example: `  patchpilot inventory collect --local
  patchpilot inventory collect -i inventory.ini --limit web --known-hosts lab/known_hosts
  patchpilot inventory collect -i hosts.yaml --refresh --concurrency 100 -o json
  patchpilot inventory collect --source cmdb --limit 'web*'`,
		Args: exactArgs(0, "no arguments (use -i FILE, --source NAME or --local)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var given []string
			for _, g := range []struct {
				on   bool
				flag string
			}{{invPath != "", "-i"}, {source != "", "--source"}, {isLocal, "--local"}} {
				if g.on {
					given = append(given, g.flag)
				}
			}
			if len(given) != 1 {
				msg := "give one of -i INVENTORY, --source NAME or --local"
				if len(given) > 1 {
					msg += ", not " + strings.Join(given[:len(given)-1], ", ") + " and " + given[len(given)-1] + " together"
				}
				return patchpilot.Errorf(patchpilot.EINVALID, "%s", msg).
					WithHint("see 'patchpilot inventory collect --help'")
			}
			if isLocal && limit != "" {
				return patchpilot.Errorf(patchpilot.EINVALID, "--limit applies to an inventory, not to --local")
			}
			a, err := c.open(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			var (
				hosts         []patchpilot.Host
				dialer        patchpilot.Dialer
				collectSource = "ssh"
			)
			if isLocal {
				if name == "" {
					name, _ = os.Hostname()
				}
				if name == "" {
					name = app.LocalHostName
				}
				hosts = []patchpilot.Host{app.LocalHost(name)}
				dialer, collectSource = a.LocalDialer(), app.LocalSource
			} else if source != "" {
				if hosts, err = a.SourceHosts(cmd.Context(), source, limit); err != nil {
					return err
				}
				if dialer, err = a.SSHDialer(); err != nil {
					return err
				}
			} else {
				var warnings []string
				if hosts, warnings, err = a.LoadInventory(invPath, limit); err != nil {
					return err
				}
				for _, w := range warnings {
					fmt.Fprintf(c.stderr, "warning: %s\n", escapeControls(w, false))
				}
				if dialer, err = a.SSHDialer(); err != nil {
					return err
				}
			}
			prog := newProgress(c.stderr, len(hosts))
			report, err := a.Collect(cmd.Context(), dialer, hosts, app.CollectOptions{Refresh: refresh, NoDepth: noDepth}, collectSource, func(r app.HostReport) {
				if r.Err != nil {
					prog.step(fmt.Sprintf("%s: failed: %s", r.Host.Name, r.Err), true)
					return
				}
				prog.step(fmt.Sprintf("%s: %s %s, %d packages, %d updates (%d security) in %s", r.Host.Name,
					r.Summary.OSName, r.Summary.OSVersion, r.Summary.PackageCount, r.Summary.PendingUpdateCount,
					r.Summary.SecurityUpdateCount, r.Duration.Round(time.Millisecond)), false)
			})
			if err != nil {
				return err
			}
			if err := c.printCollectReport(cmd, a, report, isLocal); err != nil {
				return err
			}
			if len(report.Hosts) == 1 && report.Hosts[0].Err != nil {
				// One host that failed is the command failing, not a
				// partial success: it exits with the failure's own code.
				h := report.Hosts[0]
				if strings.Contains(h.Err.Error(), h.Host.Name) {
					return h.Err
				}
				return patchpilot.Errorf(patchpilot.ErrorCode(h.Err), "%s: %w", h.Host.Name, h.Err)
			}
			return report.Err()
		},
	}
	f := cmd.Flags()
	f.StringVarP(&invPath, "inventory", "i", "", "inventory file (Ansible INI or YAML, or a patchpilot host list)")
	f.StringVarP(&limit, "limit", "l", "", "only hosts matching this Ansible-style pattern")
	f.BoolVar(&refresh, "refresh", false, "refresh package metadata first (apt-get update, dnf makecache); needs root or sudo")
	f.BoolVar(&noDepth, "no-depth", false, "leave out the collection in depth (services in depth, connections, modified files; docs/inventory-depth.md)")
	f.BoolVar(&isLocal, "local", false, "collect from this machine instead of over SSH")
	f.StringVar(&source, "source", "", "read the hosts from this inventory source of patchpilot.yaml's integrations (see 'inventory sources')")
	f.StringVar(&name, "name", "", "host name to store this machine under with --local (default: its hostname)")
	c.addSSHFlags(f)
	return cmd
}

// collectResult is the JSON form of a collection run.
type collectResult struct {
	Hosts   []patchpilot.HostSummary `json:"hosts"`
	Failed  []hostFailure            `json:"failed"`
	Updates []patchpilot.HostUpdate  `json:"updates,omitempty"`
}

type hostFailure struct {
	Host   string `json:"host"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
	Hint   string `json:"hint,omitempty"`
}

// printCollectReport shows the collected hosts and the failures; for
// --local, which is one machine, it also lists the pending updates.
func (c *cli) printCollectReport(cmd *cobra.Command, a *app.App, r app.CollectReport, withUpdates bool) error {
	res := collectResult{Hosts: []patchpilot.HostSummary{}, Failed: []hostFailure{}}
	hints := map[string]bool{}
	for _, h := range r.Hosts {
		if h.Err != nil {
			hint := patchpilot.ErrorHint(h.Err)
			res.Failed = append(res.Failed, hostFailure{h.Host.Name, string(patchpilot.ErrorCode(h.Err)), h.Err.Error(), hint})
			// A single host's failure is the command's error, whose hint
			// run prints.
			if hint != "" && !hints[hint] && len(r.Hosts) > 1 {
				hints[hint] = true
				fmt.Fprintf(c.stderr, "hint: %s\n", escapeControls(hint, false))
			}
			continue
		}
		res.Hosts = append(res.Hosts, h.Summary)
	}
	if withUpdates && len(res.Hosts) > 0 {
		var err error
		res.Updates, err = a.Updates(cmd.Context(), patchpilot.UpdateFilter{Host: res.Hosts[0].Name})
		if err != nil {
			return err
		}
	}
	return c.render(res, func(w io.Writer) {
		if len(res.Hosts) > 0 || len(res.Failed) == 0 {
			writeHostTable(w, res.Hosts)
		}
		if len(res.Failed) > 0 {
			if len(res.Hosts) > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintln(w, "FAILED HOST\tCODE\tREASON")
			for _, f := range res.Failed {
				fmt.Fprintf(w, "%s\t%s\t%s\n", f.Host, f.Code, f.Reason)
			}
		}
		if withUpdates {
			fmt.Fprintln(w)
			if len(res.Updates) == 0 {
				fmt.Fprintln(w, "No pending updates.")
			} else {
				writeUpdateTable(w, res.Updates, false)
			}
		}
	})
}

func (c *cli) importFactsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "import-facts PATH",
		Short: "Import hosts and facts from an Ansible fact cache or 'ansible -m setup' output",
		Long: `Import hosts and their facts from Ansible: a fact cache directory (the jsonfile
cache plugin, one file per host), a file with the output of
'ansible HOSTS -m setup' (one host or many), or a JSON file with an
"ansible_facts" object. Packages are imported when the facts include them
(the package_facts module). The whole input is checked before anything is
stored.`,
		Example: `  patchpilot inventory import-facts ~/.ansible/fact_cache
  ansible all -m setup > facts.txt && patchpilot inventory import-facts facts.txt`,
		Args: exactArgs(1, "one PATH"),
		RunE: c.withApp(func(cmd *cobra.Command, args []string, a *app.App) error {
			imported, importErr := a.ImportFacts(cmd.Context(), args[0])
			if imported == nil {
				return importErr
			}
			sums := make([]patchpilot.HostSummary, len(imported))
			for i, im := range imported {
				f := im.Facts
				sums[i] = patchpilot.Summarize(im.Host, &f)
			}
			if err := c.render(sums, func(w io.Writer) { writeHostTable(w, sums) }); err != nil {
				return err
			}
			return importErr
		}),
	}
}

// pruneResult is what inventory prune prints with -o json|yaml.
type pruneResult struct {
	Keep    int `json:"keep"`
	Deleted int `json:"deleted"`
}

func (c *cli) pruneCommand() *cobra.Command {
	var keep int
	cmd := &cobra.Command{
		Use:   "prune [--keep N]",
		Short: "Delete old fact snapshots, keeping each host's newest N",
		Long: `Delete every host's fact snapshots but its newest N (10 by default), with
their package and update lists. Every collection stores a snapshot, so a
fleet collected daily grows by one package list per host a day; the newest
snapshot, which is the host's current state, is always kept. Rollout
history, outcomes and the risk model's records are not touched.`,
		Example: `  patchpilot inventory prune
  patchpilot inventory prune --keep 30`,
		Args: exactArgs(0, "no arguments"),
		RunE: c.withApp(func(cmd *cobra.Command, _ []string, a *app.App) error {
			n, err := a.PruneFacts(cmd.Context(), keep)
			if err != nil {
				return err
			}
			res := pruneResult{Keep: keep, Deleted: n}
			return c.render(res, func(w io.Writer) {
				fmt.Fprintf(w, "deleted %d fact snapshots; kept the newest %d of each host\n", n, keep)
			})
		}),
	}
	cmd.Flags().IntVar(&keep, "keep", 10, "snapshots to keep per host (at least 1)")
	return cmd
}

func (c *cli) captureCommand() *cobra.Command {
	var (
		invPath, host, out string
		isLocal            bool
	)
	cmd := &cobra.Command{
		Use:   "capture (--host NAME -i INVENTORY | --local) --out DIR",
		Short: "Record the raw output of the inventory commands on one host, as parser test data",
		Long: `Run the inventory commands on one host and write their raw output (one file
per command, with stderr and exit status) into DIR, in the layout the
collectors' parser tests read from testdata/. Use it to capture transcripts
from a new distribution or version, or again from the lab.`,
		Example: `  patchpilot inventory capture --host lab01 -i /var/lib/patchpilot/lab/inventory.ini \
    --known-hosts /var/lib/patchpilot/lab/known_hosts --out internal/osfamily/debian/testdata/lab01
  patchpilot inventory capture --local --out /tmp/this-machine`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return patchpilot.Errorf(patchpilot.EINVALID, "--out DIR is required")
			}
			if isLocal == (host != "") || (host != "" && invPath == "") {
				return patchpilot.Errorf(patchpilot.EINVALID, "give either --host NAME with -i INVENTORY, or --local")
			}
			a, err := c.open(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			h := patchpilot.Host{Name: app.LocalHostName, Address: "localhost"}
			d := a.LocalDialer()
			if !isLocal {
				hosts, _, err := a.LoadInventory(invPath, "")
				if err != nil {
					return err
				}
				i := slices.IndexFunc(hosts, func(x patchpilot.Host) bool { return x.Name == host })
				if i < 0 {
					return patchpilot.Errorf(patchpilot.ENOTFOUND, "--host %q: no host of that name in %s", host, invPath).
						WithHint("give the name of one host of the inventory")
				}
				h = hosts[i]
				if d, err = a.SSHDialer(); err != nil {
					return err
				}
			}
			if err := a.Capture(cmd.Context(), d, h, out); err != nil {
				return err
			}
			fmt.Fprintf(c.stderr, "captured %s into %s\n", escapeControls(h.Name, false), out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&invPath, "inventory", "i", "", "inventory file")
	f.StringVar(&host, "host", "", "the inventory host to capture")
	f.BoolVar(&isLocal, "local", false, "capture this machine")
	f.StringVar(&out, "out", "", "directory to write the transcript into")
	c.addSSHFlags(f)
	return cmd
}

func (c *cli) sourcesCommand() *cobra.Command {
	var read bool
	cmd := &cobra.Command{
		Use:   "sources",
		Short: "List the inventory sources of patchpilot.yaml, or the hosts one of them reads",
		Long: `List the integrations of patchpilot.yaml that 'inventory collect --source NAME'
reads hosts from (types servicenow_cmdb and http_inventory). With NAME and
--hosts, read that source now and show its hosts, changing nothing: a dry run
of what collection would connect to.`,
		Example: `  patchpilot inventory sources
  patchpilot inventory sources cmdb --hosts -o json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return patchpilot.Errorf(patchpilot.EINVALID, "%s expects at most one source name, got %d arguments", cmd.CommandPath(), len(args)).
					WithHint(fmt.Sprintf("see '%s --help'", cmd.CommandPath()))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if read && len(args) == 0 {
				return patchpilot.Errorf(patchpilot.EINVALID, "--hosts needs a source name").WithHint("patchpilot inventory sources NAME --hosts")
			}
			a, err := c.openStore(cmd, true)
			if err != nil {
				return err
			}
			defer a.Close()
			if !read {
				srcs := a.InventorySources()
				if len(args) == 1 {
					srcs = slices.DeleteFunc(srcs, func(s app.InventorySource) bool { return s.Name != args[0] })
					if len(srcs) == 0 {
						return patchpilot.Errorf(patchpilot.ENOTFOUND, "no inventory source named %q", args[0]).WithHint("see 'patchpilot inventory sources'")
					}
				}
				if srcs == nil {
					srcs = []app.InventorySource{}
				}
				return c.render(srcs, func(w io.Writer) {
					if len(srcs) == 0 {
						fmt.Fprintln(w, "No inventory sources: configure an integration of type servicenow_cmdb or http_inventory in patchpilot.yaml.")
						return
					}
					fmt.Fprintln(w, "NAME\tTYPE")
					for _, s := range srcs {
						fmt.Fprintf(w, "%s\t%s\n", s.Name, s.Type)
					}
				})
			}
			hosts, err := a.SourceHosts(cmd.Context(), args[0], "")
			if err != nil {
				return err
			}
			return c.render(hosts, func(w io.Writer) {
				fmt.Fprintln(w, "NAME\tADDRESS\tPORT\tLABELS")
				for _, h := range hosts {
					var labels []string
					for _, k := range slices.Sorted(maps.Keys(h.Labels)) {
						labels = append(labels, k+"="+h.Labels[k])
					}
					addr, port := h.Address, h.Port
					if addr == "" {
						addr = h.Name // the address defaults to the name
					}
					if port == 0 {
						port = 22
					}
					fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", h.Name, addr, port, strings.Join(labels, ","))
				}
			})
		},
	}
	cmd.Flags().BoolVar(&read, "hosts", false, "read the named source now and list its hosts (changes nothing)")
	return cmd
}
