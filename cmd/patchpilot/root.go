package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// cli carries what every subcommand needs: the streams, the environment and
// the global flags. Nothing here is global state; run builds one per call.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            []string

	configPath string
	dbPath     string
	output     string
	logLevel   string

	// ssh flags, registered on the commands that reach hosts.
	knownHosts     string
	acceptNewKeys  bool
	sshUser        string
	sshKeys        []string
	jumpHost       string
	concurrency    int
	connectTimeout string
	commandTimeout string

	// remote points the commands that work against a server at one.
	remote remoteFlags
	// pollInterval is how often a command following a rollout in a
	// server looks at it.
	pollInterval time.Duration
}

// run is the whole program: it parses args, runs the command and returns
// the exit code. main only adds signals and os.Exit.
func run(ctx context.Context, args, env []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, env: env}
	root := c.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return patchpilot.ExitOK
	}
	if isUsageError(err) {
		path := root.CommandPath()
		if cmd != nil {
			path = cmd.CommandPath()
		}
		err = patchpilot.Errorf(patchpilot.EINVALID, "%s", err.Error()).WithHint(fmt.Sprintf("see '%s --help'", path))
	}
	// Messages quote host names, paths and remote output: escaped.
	msg := escapeControls(err.Error(), true)
	if patchpilot.ErrorCode(err) != patchpilot.EPARTIAL {
		fmt.Fprintf(stderr, "error: %s\n", msg)
	} else {
		fmt.Fprintf(stderr, "%s\n", msg)
	}
	if hint := patchpilot.ErrorHint(err); hint != "" {
		fmt.Fprintf(stderr, "hint: %s\n", escapeControls(hint, true))
	}
	return patchpilot.ExitCode(err)
}

// isUsageError recognises cobra's own errors for unknown commands and flags,
// which are not *patchpilot.Error.
func isUsageError(err error) bool {
	var pe *patchpilot.Error
	if errors.As(err, &pe) {
		return false
	}
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument",
		"invalid argument", "accepts ", "requires at least", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

const rootLong = `patchpilot patches Linux server fleets safely.

It collects inventory from servers over SSH (or from an Ansible inventory or
fact cache), finds pending package updates and the advisories they fix,
assesses their risk from the fleet's own history, and rolls them out in
canary stages with health gates and automatic rollback. Everything is kept in
an embedded database.

Configuration comes from patchpilot.yaml ($XDG_CONFIG_HOME/patchpilot/ or
--config), overridden by PATCHPILOT_* environment variables (PATCHPILOT_DB,
PATCHPILOT_KNOWN_HOSTS, PATCHPILOT_CONCURRENCY, ...), overridden by flags.

With --server URL (or PATCHPILOT_SERVER) and an API token (PATCHPILOT_TOKEN
or --token-file), hosts, updates, assess, plan, history and the rollout
commands run against a 'patchpilot server' instead of the local database,
with the same output and exit codes.

Exit codes:
  0  success
  1  the command failed
  2  bad flags, arguments or input files
  3  the command ran, but one or more hosts failed
  4  the named host, rollout or file does not exist
  5  a required tool, database or service is unavailable
  6  a server refused the token, or the role or a rule forbids the call
  10 rollout halted, held for a person, or aborted
  11 rollout rolled back
  12 rollout waits for an approval ('patchpilot rollout approve')
  13 rollout paused ('patchpilot rollout resume')
  14 a rollback failed on some host: a person must look
  130 interrupted`

func (c *cli) rootCommand() *cobra.Command {
	var showVersion bool
	root := &cobra.Command{
		Use:           "patchpilot",
		Short:         "Patch Linux fleets safely",
		Long:          rootLong,
		SilenceErrors: true,
		SilenceUsage:  true,
		// The root takes its arguments itself so that a mistyped command
		// gets the same error as a mistyped subcommand (see groupRunE).
		Args: cobra.ArbitraryArgs,
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		// cobra parses a group's flags before it looks for the subcommand,
		// so in "inventory colect --local" the subcommand's flag is the
		// first error it sees. The mistyped subcommand is the mistake to
		// report: its flag is unknown only because the subcommand is.
		if args := cmd.Flags().Args(); cmd.HasSubCommands() && len(args) > 0 {
			return unknownCommand(cmd, args[0])
		}
		msg := plainFlagError(err.Error())
		if name, ok := strings.CutPrefix(err.Error(), "unknown flag: --"); ok {
			if s := flagSuggestions(cmd, name); len(s) > 0 {
				msg += "; did you mean --" + strings.Join(s, " or --") + "?"
			}
		} else if _, word, ok := strings.Cut(err.Error(), "' in -"); ok && strings.HasPrefix(err.Error(), "unknown shorthand flag: ") && len(word) > 1 {
			// A long flag given with one dash ("-patch") reads as the
			// shorthand flags -p -a -t ...: name the long flag meant.
			name, _, _ := strings.Cut(word, "=")
			if s := flagSuggestions(cmd, name); len(s) > 0 {
				msg += "; did you mean --" + strings.Join(s, " or --") + "?"
			}
		}
		return patchpilot.Errorf(patchpilot.EINVALID, "%s", msg).WithHint(fmt.Sprintf("see '%s --help'", cmd.CommandPath()))
	})
	root.Flags().BoolVar(&showVersion, "version", false, "print patchpilot's version, as 'patchpilot version' does")
	pf := root.PersistentFlags()
	pf.StringVar(&c.configPath, "config", "", "configuration file (default $XDG_CONFIG_HOME/patchpilot/patchpilot.yaml)")
	pf.StringVar(&c.dbPath, "db", "", "database file (default $XDG_DATA_HOME/patchpilot/patchpilot.db)")
	pf.StringVarP(&c.output, "output", "o", "table", "output format: table, json or yaml")
	pf.StringVar(&c.logLevel, "log-level", "warn", "log level on stderr: debug, info, warn or error")
	c.addRemoteFlags(pf)
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if !strings.HasPrefix(cmd.Name(), "__complete") {
			for _, w := range app.MistypedEnv(c.env) {
				fmt.Fprintf(c.stderr, "warning: %s\n", w)
			}
		}
		return c.checkRemote(cmd, args)
	}

	version := c.versionCommand()
	root.AddCommand(
		version,
		c.inventoryCommand(),
		c.hostsCommand(), c.depsCommand(),
		c.updatesCommand(),
		c.advisoriesCommand(),
		c.labCommand(),
		c.demoCommand(),
		c.assessCommand(), c.modelCommand(), c.quarantineCommand(),
		c.planCommand(), c.rolloutCommand(), c.historyCommand(), c.reportCommand(),
		c.tokenCommand(),
		c.auditCommand(),
		c.scheduleCommand(),
		c.integrationsCommand(),
		c.policyCommand(),
		c.serverCommand(),
		c.manCommand(),
	)
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if showVersion && len(args) == 0 {
			return version.RunE(version, nil)
		}
		return groupRunE(cmd, args)
	}
	// cobra adds its help and completion commands when the root runs;
	// adding them now lets guardGroups cover the completion group too.
	// The completion scripts go to the writer set at this point.
	root.SetOut(c.stdout)
	root.SetErr(c.stderr)
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	guardGroups(root)
	c.registerCompletions(root)
	return root
}

// guardGroups gives every command group (a command whose work is done by
// its subcommands) groupRunE. Without it cobra prints the group's help and
// exits 0 for a mistyped subcommand, so a script's typo passes silently.
func guardGroups(cmd *cobra.Command) {
	for _, sub := range cmd.Commands() {
		guardGroups(sub)
	}
	if cmd.HasSubCommands() && cmd.Run == nil && cmd.RunE == nil {
		// groupRunE judges the arguments itself (cobra's completion
		// group would refuse them without naming what was meant).
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = groupRunE
	}
}

// groupRunE runs a command group: with no argument it prints the group's
// help; an argument is a subcommand that does not exist.
func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	return unknownCommand(cmd, args[0])
}

// suggestions returns the subcommands of cmd whose names are close to name.
func suggestions(cmd *cobra.Command, name string) []string {
	// cobra's own default distance, which it only sets on the root.
	cmd.SuggestionsMinimumDistance = 2
	return cmd.SuggestionsFor(name)
}

// flagSuggestions are cmd's flags (its own and those it inherits) close
// to a mistyped one: at most two edits away, or starting with what was
// typed.
func flagSuggestions(cmd *cobra.Command, name string) []string {
	var out []string
	seen := map[string]bool{}
	visit := func(f *pflag.Flag) {
		if seen[f.Name] || f.Hidden {
			return
		}
		seen[f.Name] = true
		if app.EditDistance(f.Name, name) <= 2 || len(name) >= 3 && strings.HasPrefix(f.Name, name) {
			out = append(out, f.Name)
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	slices.Sort(out)
	return out
}

// unknownCommand is the usage error for a subcommand name that cmd does
// not have, with the names close to it.
func unknownCommand(cmd *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, cmd.CommandPath())
	if s := suggestions(cmd, name); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean '%s %s'?", cmd.CommandPath(), strings.Join(s, "' or '"+cmd.CommandPath()+" "))
	}
	return patchpilot.Errorf(patchpilot.EINVALID, "%s", msg).
		WithHint(fmt.Sprintf("see '%s --help' for its commands", cmd.CommandPath()))
}

// addSSHFlags registers the flags of commands that reach hosts over SSH.
func (c *cli) addSSHFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.knownHosts, "known-hosts", "", "known_hosts file that verifies host keys (default ~/.ssh/known_hosts)")
	fs.BoolVar(&c.acceptNewKeys, "accept-new-host-keys", false, "record the keys of hosts not yet in known_hosts (changed keys are always refused)")
	fs.StringVarP(&c.sshUser, "user", "u", "", "SSH user for hosts whose inventory names none (default: the current user)")
	fs.StringSliceVar(&c.sshKeys, "key", nil, "private key file to try for every host (repeatable; the SSH agent is used too)")
	fs.StringVar(&c.jumpHost, "jump", "", "jump host for hosts whose inventory names none, as user@host:port")
	fs.IntVar(&c.concurrency, "concurrency", 0, fmt.Sprintf("hosts worked on at once (default %d)", app.DefaultConcurrency))
	// The values are read as the configuration's are (its keys may set
	// them); the backquoted word names their type in the help, as the
	// other durations' is.
	fs.StringVar(&c.connectTimeout, "connect-timeout", "", fmt.Sprintf("SSH connection timeout, a `duration` (default %s)", app.DefaultConnectTimeout))
	fs.StringVar(&c.commandTimeout, "command-timeout", "", fmt.Sprintf("timeout of each remote command, a `duration` (default %s)", app.DefaultCommandTimeout))
}

// options builds app.Options from the config file, the environment and the
// flags, in that order of precedence (flags win).
func (c *cli) options(cmd *cobra.Command) (app.Options, error) {
	o := app.Options{Env: c.env}
	path, optional := c.configPath, false
	if path == "" {
		path, optional = app.DefaultConfigPath(o), true
	}
	cfg, err := app.LoadConfig(path, optional)
	if err != nil {
		return o, err
	}
	if cfg, err = cfg.FromEnv(o); err != nil {
		return o, err
	}
	changed := func(name string) bool {
		f := cmd.Flags().Lookup(name)
		return f != nil && f.Changed
	}
	if changed("db") {
		cfg.DB = c.dbPath
	}
	if changed("known-hosts") {
		cfg.KnownHosts = c.knownHosts
	}
	if changed("accept-new-host-keys") {
		cfg.AcceptNewHostKeys = &c.acceptNewKeys
	}
	if changed("user") {
		cfg.User = c.sshUser
	}
	if changed("key") {
		cfg.Keys = c.sshKeys
	}
	if changed("jump") {
		cfg.JumpHost = c.jumpHost
	}
	if changed("concurrency") {
		if c.concurrency < 1 {
			return o, patchpilot.Errorf(patchpilot.EINVALID, "--concurrency %d: expected a number of at least 1", c.concurrency)
		}
		cfg.Concurrency = c.concurrency
	}
	if changed("connect-timeout") {
		cfg.ConnectTimeout = c.connectTimeout
	}
	if changed("command-timeout") {
		cfg.CommandTimeout = c.commandTimeout
	}
	if o, err = cfg.Apply(o); err != nil {
		return o, err
	}
	level, err := parseLevel(c.logLevel)
	if err != nil {
		return o, err
	}
	o.Logger = slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level}))
	return o, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, patchpilot.Errorf(patchpilot.EINVALID, "--log-level %q: expected debug, info, warn or error", s)
	}
	return l, nil
}

// open builds the app for a command: options, then the store.
func (c *cli) open(cmd *cobra.Command) (*app.App, error) { return c.openStore(cmd, false) }

// openStore is open, with the store opened read-only for a command that
// only reads it (see app.Options.ReadOnly).
func (c *cli) openStore(cmd *cobra.Command, readOnly bool) (*app.App, error) {
	o, err := c.options(cmd)
	if err != nil {
		return nil, err
	}
	o.ReadOnly, o.Notices = readOnly, c.stderr
	if _, err := parseFormat(c.output); err != nil {
		return nil, err
	}
	return app.New(cmd.Context(), o)
}

// exactArgs is cobra.ExactArgs with an error that says what was expected.
// A command that has subcommands and takes no arguments reads an argument
// as a mistyped subcommand.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if n == 0 && len(args) > 0 && cmd.HasAvailableSubCommands() && len(suggestions(cmd, args[0])) > 0 {
			return unknownCommand(cmd, args[0])
		}
		if len(args) != n {
			got := counted(len(args), "argument", "arguments")
			if len(args) > 0 {
				got += ": " + quotedArgs(args)
			}
			return patchpilot.Errorf(patchpilot.EINVALID, "%s expects %s, got %s", cmd.CommandPath(), what, got).
				WithHint(fmt.Sprintf("see '%s --help'", cmd.CommandPath()))
		}
		return nil
	}
}

// quotedArgs shows the first few arguments of a command line, each quoted
// and cut short, so that a person sees which words were read as arguments.
func quotedArgs(args []string) string {
	const most, long = 3, 60
	var parts []string
	for i, a := range args {
		if i == most {
			parts = append(parts, fmt.Sprintf("and %d more", len(args)-most))
			break
		}
		if r := []rune(a); len(r) > long {
			a = string(r[:long]) + "..."
		}
		parts = append(parts, strconv.Quote(a))
	}
	return strings.Join(parts, ", ")
}

// withApp opens the app (options, then the store) for a command and closes
// it when the command is done.
func (c *cli) withApp(run func(cmd *cobra.Command, args []string, a *app.App) error) func(*cobra.Command, []string) error {
	return c.withStore(false, run)
}

// withReadApp is withApp for a command that only reads the store.
func (c *cli) withReadApp(run func(cmd *cobra.Command, args []string, a *app.App) error) func(*cobra.Command, []string) error {
	return c.withStore(true, run)
}

// withExistingApp is withApp for a command that changes data the store
// must already hold: a database that does not exist (a mistyped --db) is
// ENOTFOUND, rather than created empty.
func (c *cli) withExistingApp(run func(cmd *cobra.Command, args []string, a *app.App) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		o, err := c.options(cmd)
		if err != nil {
			return err
		}
		path := o.Resolve().DBPath
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return patchpilot.Errorf(patchpilot.ENOTFOUND, "database %s does not exist: %s changes what it holds", path, cmd.CommandPath()).
				WithHint("check the --db path (or the config file's db); a command that stores data (inventory collect, history import) creates the database")
		}
		return c.withStore(false, run)(cmd, args)
	}
}

func (c *cli) withStore(readOnly bool, run func(cmd *cobra.Command, args []string, a *app.App) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a, err := c.openStore(cmd, readOnly)
		if err != nil {
			return err
		}
		defer a.Close()
		return run(cmd, args, a)
	}
}
