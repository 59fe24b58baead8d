package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/lab"
)

const labLong = `Run a real fleet of Debian hosts on this machine, to try patchpilot or to test it.

'lab up' boots N systemd-nspawn containers on overlayfs copies of a cached
debootstrap base. Each host has its own hostname, machine id and SSH host
key, and listens on its own loopback address (127.0.1.N): sshd on 22,
node_exporter on 9100 and a demo web service on 8080. A local apt repository
holds pending updates, good and bad. The lab directory holds inventory.ini,
known_hosts and the private key, so that

  patchpilot inventory collect -i DIR/inventory.ini --known-hosts DIR/known_hosts

works at once. Faults can be injected ('lab fault HOST KIND') and healed.

Linux and root only. Needs debootstrap, systemd-container, apt-utils,
dpkg-dev, nftables and, for --prometheus, prometheus and
prometheus-node-exporter; the first 'lab up' downloads Debian (about 40 s),
later ones reuse the cached base (PATCHPILOT_LAB_CACHE, default
/var/cache/patchpilot/lab). The lab directory defaults to
$XDG_STATE_HOME/patchpilot/lab, or /var/lib/patchpilot/lab for root.`

func (c *cli) labCommand() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Run a local fleet of real Debian hosts (containers) to try patchpilot on",
		Long:  labLong,
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", "", "lab directory (default "+lab.DefaultDir()+")")
	cmd.AddCommand(
		c.labUpCommand(&dir),
		c.labStatusCommand(&dir),
		c.labDownCommand(&dir),
		c.labFaultCommand(&dir),
		c.labHealCommand(&dir),
		c.labRebootCommand(&dir),
	)
	return cmd
}

// labLogger reports progress on stderr: at info level unless --log-level
// says otherwise, since lab commands take seconds to minutes.
func (c *cli) labLogger(cmd *cobra.Command) (*slog.Logger, error) {
	level := slog.LevelInfo
	if f := cmd.Flags().Lookup("log-level"); f != nil && f.Changed {
		l, err := parseLevel(c.logLevel)
		if err != nil {
			return nil, err
		}
		level = l
	}
	return slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level})), nil
}

func (c *cli) labUpCommand(dir *string) *cobra.Command {
	var o lab.Options
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the lab (stopping a previous one in the same directory first)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := parseFormat(c.output); err != nil {
				return err
			}
			if o.Hosts < 1 {
				// The options read 0 as "the default"; a --hosts 0 given
				// is out of range, as --hosts 201 is.
				return patchpilot.Errorf(patchpilot.EINVALID, "hosts: %d is out of range (want 1 to %d)", o.Hosts, lab.MaxHosts)
			}
			lg, err := c.labLogger(cmd)
			if err != nil {
				return err
			}
			o.Dir, o.Logger = *dir, lg
			l, err := lab.Up(cmd.Context(), o)
			if err != nil {
				return err
			}
			st, err := l.Status(cmd.Context())
			if err != nil {
				return err
			}
			return c.render(st, func(w io.Writer) {
				writeLabTable(w, st)
				fmt.Fprintf(w, "\ninventory:\t%s\nknown_hosts:\t%s\nkey:\t%s\n", l.InventoryFile(), l.KnownHostsFile(), l.KeyFile())
				if u := l.PrometheusURL(); u != "" {
					fmt.Fprintf(w, "prometheus:\t%s\n", u)
				}
				fmt.Fprintf(w, "\nnext:\tpatchpilot inventory collect -i %s --known-hosts %s\n", l.InventoryFile(), l.KnownHostsFile())
				fmt.Fprintf(w, "stop:\tpatchpilot lab down --dir %s\n", l.Dir())
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Hosts, "hosts", lab.DefaultHosts, fmt.Sprintf("number of hosts (1 to %d)", lab.MaxHosts))
	f.BoolVar(&o.Prometheus, "prometheus", false, "also run Prometheus on "+lab.DefaultPrometheusAddress+", scraping every host")
	f.StringVar(&o.PrometheusAddress, "prometheus-address", "", "address for --prometheus (default "+lab.DefaultPrometheusAddress+")")
	f.StringVar(&o.Mirror, "mirror", "", "Debian mirror for the base (default: the first in this machine's apt sources)")
	f.StringVar(&o.CacheDir, "cache", "", "cache of the base and the repository (default $"+lab.EnvCache+" or "+lab.DefaultCacheDir()+")")
	f.StringVar(&o.Subnet, "subnet", "", "first three octets of the host addresses (default "+lab.DefaultSubnet+")")
	f.StringVar(&o.Profile, "profile", lab.ProfileDefault, "hosts' profile: "+lab.ProfileDefault+" (small hosts, the lab repository only) or "+lab.ProfileRealistic+" (Debian's full indexes and standard packages)")
	return cmd
}

func (c *cli) labStatusCommand(dir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the lab's hosts: address, state, boot id, pid, labels and faults",
		Long: `Show the lab's hosts. States: running (sshd answers), unreachable (the container
runs but sshd does not answer), stopped. JSON fields: name, address, state,
boot_id, pid, labels, faults.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := lab.Open(*dir)
			if err != nil {
				return err
			}
			st, err := l.Status(cmd.Context())
			if err != nil {
				return err
			}
			return c.render(st, func(w io.Writer) { writeLabTable(w, st) })
		},
	}
}

func (c *cli) labDownCommand(dir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Stop the lab and remove everything it made (safe to run twice)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			lg, err := c.labLogger(cmd)
			if err != nil {
				return err
			}
			return lab.Down(cmd.Context(), *dir, lg)
		},
	}
}

func (c *cli) labFaultCommand(dir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "fault HOST KIND",
		Short: "Inject a fault into a host: " + strings.Join(lab.FaultKinds, ", "),
		Long: `Inject a fault into a host. Kinds:
  sshd-down  sshd is stopped inside the host
  net-drop   the controller drops all traffic to the host's address (nftables table inet patchpilot_lab)
  dpkg-lock  a process inside the host holds /var/lib/dpkg/lock-frontend
  repo-down  the host's apt repository is hidden by an empty file system
  disk-full  the host's disk is full: writes fail with ENOSPC
  no-return  the host's next reboot never comes back
A reboot clears sshd-down, dpkg-lock and repo-down, as it would on a real host.
'lab heal HOST' undoes them all.`,
		Args: exactArgs(2, "a HOST and a fault KIND"),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := c.openLab(cmd, *dir)
			if err != nil {
				return err
			}
			if err := l.Fault(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			res := labAction{Host: args[0], Fault: args[1], Done: "injected"}
			return c.render(res, func(w io.Writer) { fmt.Fprintf(w, "%s: %s injected\n", res.Host, res.Fault) })
		},
	}
}

// labAction is what 'lab fault' and 'lab heal' print with -o json|yaml.
type labAction struct {
	Host  string `json:"host"`
	Fault string `json:"fault,omitempty"`
	Done  string `json:"done"`
}

func (c *cli) labHealCommand(dir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "heal HOST",
		Short: "Undo every fault on a host, and start it again if it is down",
		Args:  exactArgs(1, "one HOST"),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := c.openLab(cmd, *dir)
			if err != nil {
				return err
			}
			if err := l.Heal(cmd.Context(), args[0]); err != nil {
				return err
			}
			res := labAction{Host: args[0], Done: "healed"}
			return c.render(res, func(w io.Writer) { fmt.Fprintf(w, "%s: healed\n", res.Host) })
		},
	}
}

func (c *cli) labRebootCommand(dir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "reboot HOST",
		Short: "Reboot a host and wait until it is back with a new boot id",
		Args:  exactArgs(1, "one HOST"),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := c.openLab(cmd, *dir)
			if err != nil {
				return err
			}
			if err := l.Reboot(cmd.Context(), args[0]); err != nil {
				return err
			}
			st, err := l.Status(cmd.Context())
			if err != nil {
				return err
			}
			for _, h := range st {
				if h.Name == args[0] {
					return c.render(h, func(w io.Writer) { fmt.Fprintf(w, "%s: %s, boot id %s\n", h.Name, h.State, dash(h.BootID)) })
				}
			}
			return nil
		},
	}
}

func (c *cli) openLab(cmd *cobra.Command, dir string) (*lab.Lab, error) {
	if _, err := parseFormat(c.output); err != nil {
		return nil, err
	}
	l, err := lab.Open(dir)
	if err != nil {
		return nil, err
	}
	lg, err := c.labLogger(cmd)
	if err != nil {
		return nil, err
	}
	return l.WithLogger(lg), nil
}

func writeLabTable(w io.Writer, st []lab.HostStatus) {
	fmt.Fprintln(w, "NAME\tADDRESS\tSTATE\tBOOT ID\tPID\tLABELS\tFAULTS")
	for _, h := range st {
		pid := "-"
		if h.PID != 0 {
			pid = fmt.Sprint(h.PID)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.Name, h.Address, h.State, dash(h.BootID), pid,
			labelsText(h.Labels), dash(strings.Join(h.Faults, ",")))
	}
}
