package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
	"github.com/patchpilot/patchpilot/internal/server"
)

// remoteFlags are the global flags that point the CLI at a server.
type remoteFlags struct {
	url          string
	tokenFile    string
	caCert       string
	insecureHTTP bool
}

func (c *cli) addRemoteFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.remote.url, "server", "", "run the command against the patchpilot server at this URL (or PATCHPILOT_SERVER)")
	fs.StringVar(&c.remote.tokenFile, "token-file", "", "file holding the API token for --server, readable by its owner only (default: PATCHPILOT_TOKEN)")
	fs.StringVar(&c.remote.caCert, "ca-cert", "", "PEM file of the CA that signed the server's certificate, for a private CA (or PATCHPILOT_CA_CERT)")
	fs.BoolVar(&c.remote.insecureHTTP, "insecure-http", false, "allow a plain-http --server URL to another machine: the token crosses the network in clear")
}

// remoteCommands are the commands that work against a server: their
// paths under the root.
var remoteCommands = []string{
	"hosts", "hosts show", "deps", "updates", "assess", "plan", "history", "report",
	"rollout start", "rollout list", "rollout status", "rollout events", "rollout approve",
	"rollout pause", "rollout resume", "rollout abort", "rollout rollback",
	"schedule list", "policy check", "token create", "token list", "token revoke", "audit",
	"quarantine list", "quarantine clear",
}

// neutralCommands touch neither a store nor a host: they run the same
// with or without a server.
// So do the groups of subcommands ('rollout', 'token' without one).
var neutralCommands = []string{"version", "man", "help", "completion"}

// localOnlyFlags configure the local store, SSH or the local controller;
// against a server they would be silently ignored, so they are refused.
var localOnlyFlags = []string{"db", "config", "known-hosts", "accept-new-host-keys", "user", "key", "jump", "concurrency",
	"connect-timeout", "command-timeout", "lease-ttl", "check-interval"}

// serverURL is --server, else PATCHPILOT_SERVER; "" runs locally. The
// 'server' command is the server: the variable, set for the clients of
// the shell it runs in, does not concern it (the flag is still refused).
func (c *cli) serverURL(cmd *cobra.Command) string {
	if f := cmd.Flags().Lookup("server"); f != nil && f.Changed {
		return c.remote.url
	}
	if cmd.Parent() == cmd.Root() && cmd.Name() == "server" {
		return ""
	}
	return app.Options{Env: c.env}.Getenv("PATCHPILOT_SERVER")
}

// isRemote reports whether cmd runs against a server.
func (c *cli) isRemote(cmd *cobra.Command) bool { return c.serverURL(cmd) != "" }

// checkRemote runs before every command: with a server given, it refuses
// the commands that only run locally and the flags a server ignores;
// without one, the flags that only mean something to a server.
func (c *cli) checkRemote(cmd *cobra.Command, _ []string) error {
	path := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
	changed := func(name string) bool {
		f := cmd.Flags().Lookup(name)
		return f != nil && f.Changed
	}
	if !c.isRemote(cmd) {
		for _, name := range []string{"detach", "token-file", "ca-cert", "insecure-http"} {
			if changed(name) {
				return patchpilot.Errorf(patchpilot.EINVALID, "--%s works only with --server URL (or PATCHPILOT_SERVER)", name).
					WithHint("run locally, the command drives the rollout itself: leave the flag out")
			}
		}
		return nil
	}
	if cmd == cmd.Root() || !cmd.Runnable() || slices.Contains(neutralCommands, strings.Fields(path)[0]) {
		return nil
	}
	if !slices.Contains(remoteCommands, path) {
		return patchpilot.Errorf(patchpilot.EINVALID, "%s runs only on the machine that holds the database, not against a server (%s)", cmd.CommandPath(), c.serverURL(cmd)).
			WithHint("against a server work: patchpilot " + strings.Join(remoteCommands, ", ") + "; leave out --server and unset PATCHPILOT_SERVER to run it locally")
	}
	for _, name := range localOnlyFlags {
		if changed(name) {
			return patchpilot.Errorf(patchpilot.EINVALID, "--%s does not apply against a server: the server uses its own database, hosts and controller", name).
				WithHint("leave the flag out, or leave out --server to run locally")
		}
	}
	return nil
}

// client builds the API client from the flags and the environment.
func (c *cli) client(cmd *cobra.Command) (*server.Client, error) {
	if _, err := parseFormat(c.output); err != nil {
		return nil, err
	}
	env := app.Options{Env: c.env}
	token := env.Getenv("PATCHPILOT_TOKEN")
	if c.remote.tokenFile != "" {
		var err error
		if token, err = readTokenFile(c.remote.tokenFile); err != nil {
			return nil, err
		}
	}
	ca := c.remote.caCert
	if ca == "" {
		ca = env.Getenv("PATCHPILOT_CA_CERT")
	}
	return server.NewClient(server.ClientOptions{URL: c.serverURL(cmd), Token: token, CACertFile: ca,
		InsecureHTTP: c.remote.insecureHTTP, UserAgent: "patchpilot-cli/" + version})
}

// readTokenFile reads a token's secret from a file that only its owner
// may read: a secret others can read is refused, as ssh refuses such a
// private key.
func readTokenFile(path string) (string, error) {
	if err := app.CheckSecretFile("--token-file", path); err != nil {
		return "", err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", patchpilot.Errorf(patchpilot.EINVALID, "--token-file: %w", err)
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		return "", patchpilot.Errorf(patchpilot.EINVALID, "--token-file %s is empty: expected the token's secret", path).
			WithHint("an admin creates a token with 'patchpilot token create NAME --role ROLE'")
	}
	return token, nil
}

// reader is what the read commands need, from the local store or from a
// server: both answer with the same types, which the commands render the
// same way.
type reader interface {
	HostSummaries(ctx context.Context) ([]patchpilot.HostSummary, error)
	HostShow(ctx context.Context, name string, packages bool) (patchpilot.Host, hostDetail, []patchpilot.HostUpdate, error)
	Updates(ctx context.Context, f patchpilot.UpdateFilter) ([]patchpilot.HostUpdate, error)
	Assess(ctx context.Context, q app.AssessQuery) (app.AssessResult, error)
	Rollouts(ctx context.Context, f patchpilot.RolloutFilter) ([]patchpilot.Rollout, error)
	RolloutStatus(ctx context.Context, id string) (app.RolloutStatus, error)
	RolloutEvents(ctx context.Context, id string) ([]patchpilot.Event, error)
	// History is the outcome history; ENOTFOUND for a host or rollout
	// that nothing knows.
	History(ctx context.Context, f patchpilot.OutcomeFilter) ([]app.HistoryRecord, error)
	// Compliance is every host against its patch SLA; KPIs a period's.
	Compliance(ctx context.Context) (app.ComplianceReport, error)
	KPIs(ctx context.Context, q app.KPIQuery) (app.KPIReport, error)
	// DependencyGraph is the dependency map, or one host's part of it.
	DependencyGraph(ctx context.Context, o app.DepsOptions) (patchpilot.DependencyGraph, error)
}

// withReader runs a read command against the server when one is given,
// else against the local store opened read-only.
func (c *cli) withReader(run func(cmd *cobra.Command, args []string, r reader) error) func(*cobra.Command, []string) error {
	local := c.withReadApp(func(cmd *cobra.Command, args []string, a *app.App) error {
		return run(cmd, args, localReader{a})
	})
	return func(cmd *cobra.Command, args []string) error {
		if !c.isRemote(cmd) {
			return local(cmd, args)
		}
		cl, err := c.client(cmd)
		if err != nil {
			return err
		}
		return run(cmd, args, remoteReader{cl})
	}
}

// localReader reads the local store.
type localReader struct{ a *app.App }

func (l localReader) HostSummaries(ctx context.Context) ([]patchpilot.HostSummary, error) {
	return l.a.HostSummaries(ctx)
}

func (l localReader) HostShow(ctx context.Context, name string, packages bool) (patchpilot.Host, hostDetail, []patchpilot.HostUpdate, error) {
	a := l.a
	h, err := a.Store.Host(ctx, name)
	if err != nil {
		return h, hostDetail{}, nil, err
	}
	d := hostDetail{Groups: h.Groups}
	if d.Groups == nil {
		d.Groups = []string{}
	}
	f, err := a.Store.LatestFacts(ctx, h.Name)
	switch {
	case err == nil:
		d.Facts = &f
	case patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND:
		return h, d, nil, err
	}
	d.HostSummary = patchpilot.Summarize(h, d.Facts)
	if err := a.MarkCollectFailure(ctx, &d.HostSummary); err != nil {
		return h, d, nil, err
	}
	if d.History, err = a.Store.FactHistory(ctx, h.Name, 10); err != nil {
		return h, d, nil, err
	}
	var updates []patchpilot.HostUpdate
	if d.Facts != nil {
		if updates, err = a.Updates(ctx, patchpilot.UpdateFilter{Host: h.Name}); err != nil {
			return h, d, nil, err
		}
		if !packages {
			d.Facts.Packages = nil
		}
	}
	deps, err := a.HostDependencies(ctx, h.Name)
	if err != nil {
		return h, d, nil, err
	}
	d.Dependencies = &deps
	return h, d, updates, nil
}

func (l localReader) DependencyGraph(ctx context.Context, o app.DepsOptions) (patchpilot.DependencyGraph, error) {
	return l.a.DependencyGraph(ctx, o)
}

func (l localReader) Compliance(ctx context.Context) (app.ComplianceReport, error) {
	return l.a.Compliance(ctx)
}

func (l localReader) KPIs(ctx context.Context, q app.KPIQuery) (app.KPIReport, error) {
	return l.a.KPIs(ctx, q)
}

func (l localReader) Updates(ctx context.Context, f patchpilot.UpdateFilter) ([]patchpilot.HostUpdate, error) {
	return l.a.Updates(ctx, f)
}

func (l localReader) Assess(ctx context.Context, q app.AssessQuery) (app.AssessResult, error) {
	return l.a.Assess(ctx, q)
}

func (l localReader) Rollouts(ctx context.Context, f patchpilot.RolloutFilter) ([]patchpilot.Rollout, error) {
	return l.a.Store.Rollouts(ctx, f)
}

func (l localReader) RolloutStatus(ctx context.Context, id string) (app.RolloutStatus, error) {
	return l.a.RolloutStatus(ctx, id)
}

func (l localReader) RolloutEvents(ctx context.Context, id string) ([]patchpilot.Event, error) {
	return l.a.RolloutEvents(ctx, id)
}

func (l localReader) History(ctx context.Context, f patchpilot.OutcomeFilter) ([]app.HistoryRecord, error) {
	recs, err := l.a.Outcomes(ctx, f)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		if err := l.a.CheckOutcomeFilter(ctx, f); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// remoteReader reads through the server's API.
type remoteReader struct{ *server.Client }

func (r remoteReader) HostShow(ctx context.Context, name string, packages bool) (patchpilot.Host, hostDetail, []patchpilot.HostUpdate, error) {
	sd, err := r.Host(ctx, name, packages)
	if err != nil {
		return patchpilot.Host{}, hostDetail{}, nil, err
	}
	h := patchpilot.Host{Name: sd.Name, Address: sd.Address, Port: sd.Port, User: sd.User, Groups: sd.Groups,
		Labels: sd.Labels, Source: sd.Source}
	if len(h.Labels) == 0 {
		h.Labels = nil
	}
	d := hostDetail{HostSummary: sd.HostSummary, Groups: sd.Groups, Facts: sd.Facts, History: sd.History,
		Dependencies: sd.Dependencies}
	if d.Dependencies != nil {
		d.Dependencies.At = time.Now() // the server built the map just now
	}
	if len(d.History) == 0 {
		d.History = nil // as the store answers for a host never collected
	}
	return h, d, sd.Updates, nil
}

func (r remoteReader) RolloutEvents(ctx context.Context, id string) ([]patchpilot.Event, error) {
	return r.Client.RolloutEvents(ctx, id, 0)
}

func (r remoteReader) History(ctx context.Context, f patchpilot.OutcomeFilter) ([]app.HistoryRecord, error) {
	return r.Outcomes(ctx, f)
}

// progress prints an event of a rollout being driven or followed as a
// progress line on stderr.
func (c *cli) progress(e patchpilot.Event) {
	fmt.Fprintf(c.stderr, "%s  %s\n", e.Time.Local().Format(time.TimeOnly), escapeControls(e.Message, false))
	if e.Kind == patchpilot.EventRolloutCreated {
		c.explainStages(e)
	}
}

// explainStages prints, below a rollout's creation, each stage's hosts
// with the planner's reasons (canary coverage, the dependency order, the
// budgets that hold its hosts), its notes and its warnings, as 'plan'
// writes them in a plan's comments.
func (c *cli) explainStages(e patchpilot.Event) {
	var d patchpilot.RolloutCreatedData
	if json.Unmarshal(e.Data, &d) != nil {
		return
	}
	const indent = "          "
	for i, line := range d.Stages {
		fmt.Fprintf(c.stderr, "%sstage %s\n", indent, escapeControls(line, false))
		if i < len(d.StageReasons) {
			for _, r := range d.StageReasons[i] {
				fmt.Fprintf(c.stderr, "%s  %s\n", indent, escapeControls(r, false))
			}
		}
	}
	for _, n := range d.Notes {
		fmt.Fprintf(c.stderr, "%s%s\n", indent, escapeControls(n, false))
	}
	for _, w := range d.Warnings {
		fmt.Fprintf(c.stderr, "%swarning: %s\n", indent, escapeControls(w, false))
	}
}
