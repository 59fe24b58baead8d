package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

func (c *cli) depsCommand() *cobra.Command {
	var maxAge string
	cmd := &cobra.Command{
		Use:   "deps [HOST]",
		Short: "Show the dependency map: which host's service depends on which",
		Long: `Show the fleet's dependency map, or with HOST the edges from and to one host:
which host's service connects to which host's service and port, resolved
from the connections each collection observed ('inventory collect' samples
every host's established TCP connections) and merged with the dependencies
the inventory declares (the patchpilot_depends_on variable).

Each edge says where it came from (observed, declared) and its state: live
when the observing host saw it at its latest collection, stale when it was
seen within the maximum age but not since. Connections older than the
maximum age are gone from the map. Peers outside the fleet are shown by
address. See docs/dependencies.md.

Output: a line per edge ("web1:nginx → db1:postgresql:5432 (observed, live,
last seen 2m ago)"), -o json or yaml (fields: at, max_age in nanoseconds,
edges with from, to, sources, state, first_seen, last_seen, seen; notes),
or -o dot: a Graphviz graph, which Graphviz's dot command renders (see the
examples).
An unknown HOST exits 4.`,
		Example: `  patchpilot deps
  patchpilot deps db1 --max-age 36h
  patchpilot deps -o dot | dot -Tsvg > deps.svg`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return patchpilot.Errorf(patchpilot.EINVALID, "%s expects at most one HOST, got %d arguments", cmd.CommandPath(), len(args)).
					WithHint(fmt.Sprintf("see '%s --help'", cmd.CommandPath()))
			}
			return nil
		},
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		// dot is this command's own format; the others are every
		// command's, checked where the store is opened.
		dot := strings.EqualFold(c.output, "dot")
		if _, err := parseFormat(c.output); err != nil && !dot {
			return patchpilot.Errorf(patchpilot.EINVALID, "--output %q: expected table, json, yaml or dot", c.output)
		}
		if dot {
			c.output = string(formatTable)
			defer func() { c.output = "dot" }()
		}
		return c.withReader(func(cmd *cobra.Command, args []string, r reader) error {
			o := app.DepsOptions{}
			if len(args) == 1 {
				o.Host = args[0]
			}
			if cmd.Flags().Changed("max-age") {
				var err error
				if o.MaxAge, err = app.ParseMaxAge("--max-age", maxAge); err != nil {
					return err
				}
			}
			g, err := r.DependencyGraph(cmd.Context(), o)
			if err != nil {
				return err
			}
			if dot {
				_, err = io.WriteString(c.stdout, depsDOT(g))
				return err
			}
			return c.render(g, func(w io.Writer) { writeDepsTable(w, g, o.Host) })
		})(cmd, args)
	}
	// Shadows the global --output, whose help does not know dot.
	cmd.Flags().StringVarP(&c.output, "output", "o", "table", "output format: table, json, yaml or dot")
	cmd.Flags().StringVar(&maxAge, "max-age", "", "how long an observed connection counts after it was last seen: days (7d), Go's form (36h, 1h30m) or both (3d12h), at most 3650d (default: the configuration's dependencies: max_age, or 7d)")
	return cmd
}

// endText is an end of an edge as the table shows it: host:service:port,
// host:service, host:port or host; an outside peer by address:port.
func endText(e patchpilot.DependencyEnd) string {
	name := e.Host
	if e.External() {
		name = e.Address
		if strings.Contains(name, ":") {
			name = "[" + name + "]"
		}
	}
	if e.Service != "" {
		name += ":" + app.ServiceName(e.Service)
	}
	if e.Port != 0 {
		name += ":" + strconv.Itoa(e.Port)
	}
	return name
}

// ago says how long before at t was, to the minute ("2m", "3h", "5d").
func ago(at, t time.Time) string {
	d := max(at.Sub(t), 0)
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d"
}

// edgeText is one edge as a line: "web1:nginx → db1:postgresql:5432
// (observed, live, last seen 2m ago)".
func edgeText(e patchpilot.DependencyEdge, at time.Time) string {
	info := []string{strings.Join(e.Sources, "+"), e.State}
	if !e.LastSeen.IsZero() {
		info = append(info, "last seen "+ago(at, e.LastSeen)+" ago")
	}
	return fmt.Sprintf("%s → %s (%s)", endText(e.From), endText(e.To), strings.Join(info, ", "))
}

func writeDepsTable(w io.Writer, g patchpilot.DependencyGraph, host string) {
	if len(g.Edges) == 0 {
		if host != "" {
			fmt.Fprintf(w, "No dependencies of %s or on it were observed in the last %s or declared.\n", host, durationText(g.MaxAge))
		} else {
			fmt.Fprintf(w, "No dependencies were observed in the last %s or declared: collect the fleet with 'patchpilot inventory collect' (as root, to see which process owns a connection), or declare them with the inventory variable patchpilot_depends_on.\n", durationText(g.MaxAge))
		}
	}
	for _, e := range g.Edges {
		fmt.Fprintln(w, edgeText(e, g.At))
	}
	if len(g.Notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range g.Notes {
			fmt.Fprintf(w, "note: %s\n", n)
		}
	}
}

// durationText writes whole days as "7d", else as Go does.
func durationText(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	return d.String()
}

// dotID quotes s as a Graphviz ID: every character but the double quote
// and the backslash stands for itself in a quoted ID, and line breaks
// and other control characters are written as escapes so that the
// statement stays on one line.
func dotID(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\\\x%02x", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// depsDOT writes the graph for Graphviz: a cluster per host holding its
// services, outside peers as boxes, an edge per dependency labelled with
// the port; stale edges are dashed, declared-only ones dotted.
func depsDOT(g patchpilot.DependencyGraph) string {
	type node struct{ id, label string }
	clusters := map[string][]node{} // host → its nodes
	var external []node
	seen := map[string]bool{}
	nodeOf := func(e patchpilot.DependencyEnd) string {
		id, label := e.Host, e.Host
		switch {
		case e.External():
			id, label = "ext:"+e.Address, e.Address
		case e.Service != "":
			id = e.Host + ":" + app.ServiceName(e.Service)
			label = app.ServiceName(e.Service)
			if e.Package != "" {
				label += "\n" + e.Package + " " + e.Version
			}
		}
		if !seen[id] {
			seen[id] = true
			if e.External() {
				external = append(external, node{id, label})
			} else {
				clusters[e.Host] = append(clusters[e.Host], node{id, label})
			}
		}
		return id
	}
	type edge struct{ from, to, attrs string }
	var edges []edge
	for _, e := range g.Edges {
		from, to := nodeOf(e.From), nodeOf(e.To)
		attrs := []string{"label=" + dotID(portLabel(e.To.Port))}
		switch {
		case !slices.Contains(e.Sources, patchpilot.EdgeObserved):
			attrs = append(attrs, "style=dotted")
		case e.State == patchpilot.EdgeStale:
			attrs = append(attrs, "style=dashed")
		}
		edges = append(edges, edge{from, to, strings.Join(attrs, ", ")})
	}
	var b strings.Builder
	b.WriteString("digraph dependencies {\n\trankdir=LR;\n\tnode [shape=ellipse];\n")
	hosts := make([]string, 0, len(clusters))
	for h := range clusters {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	for i, h := range hosts {
		fmt.Fprintf(&b, "\tsubgraph %s {\n\t\tlabel=%s;\n", dotID("cluster_"+strconv.Itoa(i)), dotID(h))
		for _, n := range clusters[h] {
			fmt.Fprintf(&b, "\t\t%s [label=%s];\n", dotID(n.id), dotID(n.label))
		}
		b.WriteString("\t}\n")
	}
	for _, n := range external {
		fmt.Fprintf(&b, "\t%s [label=%s, shape=box];\n", dotID(n.id), dotID(n.label))
	}
	for _, e := range edges {
		fmt.Fprintf(&b, "\t%s -> %s [%s];\n", dotID(e.from), dotID(e.to), e.attrs)
	}
	b.WriteString("}\n")
	return b.String()
}

func portLabel(port int) string {
	if port == 0 {
		return ""
	}
	return strconv.Itoa(port)
}

// socketText is a listening socket: "*:80", "10.0.0.5:5432", "[::1]:53".
func socketText(s patchpilot.Socket) string {
	addr := s.Address
	switch {
	case addr == "" || addr == "0.0.0.0" || addr == "::" || addr == "*":
		addr = "*"
	case strings.Contains(addr, ":"):
		addr = "[" + addr + "]"
	}
	return addr + ":" + strconv.Itoa(s.Port)
}

// writeHostDepth writes the services in depth and the modifications of a
// host's latest facts.
func writeHostDepth(w io.Writer, d *patchpilot.HostDepth, snapshot time.Time) {
	if d == nil {
		fmt.Fprintln(w, "In depth:\tnot collected (services, connections and modifications need a collection over SSH)")
		return
	}
	if !d.CollectedAt.IsZero() && d.CollectedAt.Before(snapshot) {
		fmt.Fprintf(w, "In depth:\tcollected %s, before the latest collection (which left depth out)\n",
			d.CollectedAt.Local().Format(time.DateTime))
	}
	if len(d.Missing) > 0 {
		fmt.Fprintf(w, "Not read:\t%s\n", strings.Join(d.Missing, "; "))
	}
	fmt.Fprintf(w, "Held:\t%s\n", dash(strings.Join(d.Held, ",")))
	fmt.Fprintf(w, "Pinned:\t%s\n", dash(strings.Join(d.Pinned, ",")))
	if len(d.Services) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "SERVICE\tPACKAGE\tVERSION\tLISTENS")
		for _, s := range d.Services {
			var socks []string
			for _, l := range s.Listens {
				if t := socketText(l); !slices.Contains(socks, t) {
					socks = append(socks, t)
				}
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", s.Unit, dash(s.Package), dash(s.Version), dash(strings.Join(socks, ",")))
		}
	}
	if len(d.Modified) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "MODIFIED FILE\tPACKAGE\tCHANGE")
		for _, m := range d.Modified {
			var what []string
			if m.Conffile {
				what = append(what, "conffile")
			}
			switch {
			case m.Missing:
				what = append(what, "missing")
			default:
				what = append(what, "changed")
			}
			if m.Checks != "" {
				what = append(what, m.Checks)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\n", m.Path, dash(m.Package), strings.Join(what, " "))
		}
	}
	if len(d.Foreign) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "FOREIGN PACKAGE\tVERSION\tCANDIDATE\tRELATION")
		shown := d.Foreign
		if len(shown) > maxForeignRows {
			shown = shown[:foreignRowsShown]
		}
		for _, p := range shown {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", p.Name, p.Version, dash(p.Candidate), strings.ReplaceAll(p.Relation, "_", " "))
		}
		if n := len(d.Foreign) - len(shown); n > 0 {
			fmt.Fprintf(w, "… and %d more of %d foreign packages (%s): use -o json for all\n", n, len(d.Foreign), foreignSummary(d.Foreign))
		}
	}
}

// The foreign packages table lists them all up to maxForeignRows, and the
// first foreignRowsShown and a count past that (a host without its
// distribution's repository configured has every package foreign).
const (
	maxForeignRows   = 15
	foreignRowsShown = 10
)

// foreignSummary counts foreign packages by relation: "150 no candidate,
// 2 newer".
func foreignSummary(fs []patchpilot.ForeignPackage) string {
	counts := map[string]int{}
	var order []string
	for _, p := range fs {
		if counts[p.Relation] == 0 {
			order = append(order, p.Relation)
		}
		counts[p.Relation]++
	}
	slices.Sort(order)
	parts := make([]string, len(order))
	for i, r := range order {
		parts[i] = fmt.Sprintf("%d %s", counts[r], strings.ReplaceAll(r, "_", " "))
	}
	return strings.Join(parts, ", ")
}

// writeHostDeps writes what a host depends on and what depends on it.
func writeHostDeps(w io.Writer, d *app.HostDependencies) {
	if d == nil {
		return
	}
	fmt.Fprintln(w)
	if len(d.DependsOn) == 0 {
		fmt.Fprintln(w, "Depends on:\tnothing observed or declared")
	} else {
		fmt.Fprintln(w, "DEPENDS ON")
		for _, e := range d.DependsOn {
			fmt.Fprintln(w, edgeText(e, d.At))
		}
		if len(d.DependedOnBy) == 0 {
			fmt.Fprintln(w)
		}
	}
	if len(d.DependedOnBy) == 0 {
		fmt.Fprintln(w, "Depended on by:\tnothing observed or declared")
	} else {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "DEPENDED ON BY")
		for _, e := range d.DependedOnBy {
			fmt.Fprintln(w, edgeText(e, d.At))
		}
	}
	for _, n := range d.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}
