package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

const rolloutExitCodes = `Exit codes of the commands that drive a rollout (start, resume, approve,
rollback):
  0   every target host succeeded
  3   the rollout finished, but some hosts failed within the plan's limits
  10  the rollout halted, was held for a person, or was aborted
  11  the rollout was rolled back
  12  a stage waits for approval ('patchpilot rollout approve ID')
  13  the rollout is paused ('patchpilot rollout resume ID')
  14  a rollback failed on some host: a person must look`

// engineFlags are the tunables of the commands that drive a rollout.
type engineFlags struct {
	leaseTTL      time.Duration
	checkInterval time.Duration
	approvalWait  time.Duration
}

func (f *engineFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.DurationVar(&f.leaseTTL, "lease-ttl", app.DefaultLeaseTTL, "how long this controller's claim on the rollout lasts without renewal; a dead controller's rollout can be resumed after it")
	fs.DurationVar(&f.checkInterval, "check-interval", app.DefaultCheckInterval, "time between health checks during a bake")
	fs.DurationVar(&f.approvalWait, "approval-wait", 0, "how long to wait for a stage's approval before exiting with code 12 (0: exit at once)")
	// Checked before the command opens the database or a rollout: a
	// negative check interval would run the health gates in a tight loop
	// against the host, and a lease of no time lets a second controller
	// take the rollout over while this one still drives it.
	cmd.PreRunE = func(*cobra.Command, []string) error { return f.validate() }
}

// validate refuses durations the controller cannot work with.
func (f *engineFlags) validate() error {
	for _, d := range []struct {
		flag string
		val  time.Duration
		min  time.Duration
	}{
		{"--lease-ttl", f.leaseTTL, time.Second},
		{"--check-interval", f.checkInterval, time.Millisecond},
	} {
		if d.val < d.min {
			return patchpilot.Errorf(patchpilot.EINVALID, "%s %s: expected a duration of at least %s", d.flag, d.val, d.min).
				WithHint("leave the flag out for its default, or give e.g. 10s")
		}
	}
	if f.approvalWait < 0 {
		return patchpilot.Errorf(patchpilot.EINVALID, "--approval-wait %s: expected 0 (exit at once) or a positive duration", f.approvalWait)
	}
	return nil
}

// engine builds the engine for a driving command, printing each event as
// a progress line on stderr.
func (c *cli) engine(a *app.App, f engineFlags) (*app.Controller, error) {
	dialer, err := a.SSHDialer()
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	return a.Controller(app.EngineOptions{
		Dialer: dialer, Actor: "controller", LeaseTTL: f.leaseTTL, CheckInterval: f.checkInterval, ApprovalWait: f.approvalWait,
		OnEvent: func(e patchpilot.Event) {
			mu.Lock()
			defer mu.Unlock()
			c.progress(e)
		},
	}), nil
}

// actor is who a command acts as: the person running it on this machine
// (app.Options.LocalActor), never the SSH user.
func (c *cli) actor(a *app.App) string { return a.LocalActor() }

// finish prints the rollout's status and turns its state into the exit
// code.
func (c *cli) finish(cmd *cobra.Command, a *app.App, id string, state patchpilot.RolloutState, err error) error {
	if err != nil {
		var ended patchpilot.RolloutState
		if cmd.Context().Err() != nil {
			// An interrupted dry run ends aborted: read what became of it.
			ended, _, _ = a.Store.RolloutState(context.WithoutCancel(cmd.Context()), id)
		}
		return interruptedRollout(cmd.Context(), id, ended, err)
	}
	st, err := a.RolloutStatus(cmd.Context(), id)
	if err != nil {
		return err
	}
	if err := c.render(st, func(w io.Writer) { writeRolloutStatus(w, st) }); err != nil {
		return err
	}
	st.State = state // the engine's verdict decides the exit code
	return app.RolloutResult(st)
}

// interruptedRollout turns the error of a rollout whose driving command
// was interrupted (Ctrl-C, SIGTERM) into one that says so and how to carry
// the rollout on, or, when the rollout ended with the interruption (state
// is final: an interrupted dry run ends aborted), that there is nothing
// to carry on; any other error is returned as it is.
func interruptedRollout(ctx context.Context, id string, state patchpilot.RolloutState, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	if state.Final() {
		return patchpilot.Errorf(patchpilot.ECANCELED, "interrupted: rollout %s ended %s", id, state).
			WithHint(fmt.Sprintf("there is nothing to resume: see 'patchpilot rollout status %s'; a dry run changed nothing and can be started again", id))
	}
	return patchpilot.Errorf(patchpilot.ECANCELED, "interrupted: rollout %s is left where it was", id).
		WithHint(fmt.Sprintf("carry it on with 'patchpilot rollout resume %s', which reads each host's real state first", id))
}

// driveAfterRequest carries a rollout on after a person's request
// (approval, rollback) unless another controller is driving it, which
// then picks the request up itself.
func (c *cli) driveAfterRequest(cmd *cobra.Command, a *app.App, eng *app.Controller, id string) error {
	state, err := eng.Run(cmd.Context(), id)
	if patchpilot.ErrorCode(err) == patchpilot.ECONFLICT {
		c.note("the controller driving rollout %s carries on\n", id)
		return nil
	}
	return c.finish(cmd, a, id, state, err)
}

func (c *cli) rolloutCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Run staged rollouts: start, watch, approve, pause, resume, abort, roll back",
		Long: `Run a plan as a staged rollout: every host goes through preflight, snapshot,
apply, reboot (when needed and allowed), and a bake watched by health gates;
stages stop when failures exceed their limit and act as the plan says
(halt, roll back the stage, hold, roll back everything). Every step is
stored before it happens: a rollout whose controller died is resumed with
'patchpilot rollout resume ID', which reads each host's real state first.

` + rolloutExitCodes,
	}
	cmd.AddCommand(c.rolloutStartCommand(), c.rolloutListCommand(), c.rolloutStatusCommand(), c.rolloutEventsCommand(),
		c.rolloutApproveCommand(), c.rolloutPauseCommand(), c.rolloutResumeCommand(), c.rolloutAbortCommand(), c.rolloutRollbackCommand())
	return cmd
}

func (c *cli) rolloutStartCommand() *cobra.Command {
	var (
		dryRun bool
		ef     engineFlags
		ff     followFlags
	)
	cmd := &cobra.Command{
		Use:   "start PLAN",
		Short: "Start a rollout of a plan over the known hosts and drive it in the foreground",
		Long: `Start a rollout of PLAN (see 'patchpilot plan') over the known hosts its
targets select, and drive it in the foreground. The rollout id is printed
first on standard output ("rollout ID"); progress lines (one per
transition, gate verdict, approval and incident) go to standard error; the
final status follows on standard output. With -o json or -o yaml standard
output holds only the final status, and the id line goes to standard error. With --dry-run every host runs its preflight and its
stage's health gates once, and nothing is changed: a host whose gates fail
before any change (which the real run would patch only to roll back) fails
the dry run, which then exits 10.

Interrupting the command leaves the rollout where it is: resume it with
'patchpilot rollout resume ID'.

` + rolloutExitCodes,
		Example: `  patchpilot rollout start plan.yaml --known-hosts lab/known_hosts
  patchpilot rollout start plan.yaml --dry-run`,
		Args: exactArgs(1, "one PLAN file"),
		RunE: c.orRemote(c.remoteStart(&dryRun, &ef, &ff), func(cmd *cobra.Command, args []string) error {
			p, src, err := app.ReadPlan(args[0])
			if err != nil {
				return err
			}
			a, err := c.open(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			eng, err := c.engine(a, ef)
			if err != nil {
				return err
			}
			id, err := eng.Start(cmd.Context(), p, src, app.StartOptions{DryRun: dryRun, Actor: c.actor(a)})
			if err != nil {
				return err
			}
			c.note("rollout %s\n", id)
			state, err := eng.Run(cmd.Context(), id)
			return c.finish(cmd, a, id, state, err)
		}),
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "run every host's preflight and health gates once: change nothing")
	ef.register(cmd)
	ff.register(c, cmd)
	c.addSSHFlags(cmd.Flags())
	return cmd
}

func (c *cli) rolloutListCommand() *cobra.Command {
	var limit int
	var state string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List rollouts, newest first",
		Long: `List rollouts, newest first; --state keeps those in one state (as the
API's ?state= does). JSON fields: id, plan, state, reason, created_by,
created_at, updated_at, dry_run, plan_id, stages.`,
		Example: `  patchpilot rollout list
  patchpilot rollout list --state waiting_approval`,
		Args: exactArgs(0, "no arguments"),
		RunE: c.withReader(func(cmd *cobra.Command, _ []string, a reader) error {
			st := patchpilot.RolloutState(state)
			if st != "" && !slices.Contains(patchpilot.RolloutStates(), st) {
				var names []string
				for _, s := range patchpilot.RolloutStates() {
					names = append(names, string(s))
				}
				return patchpilot.Errorf(patchpilot.EINVALID, "--state %q: expected one of %s", state, strings.Join(names, ", "))
			}
			rs, err := a.Rollouts(cmd.Context(), patchpilot.RolloutFilter{State: st, Limit: limit})
			if err != nil {
				return err
			}
			if rs == nil {
				rs = []patchpilot.Rollout{}
			}
			return c.render(rs, func(w io.Writer) {
				if len(rs) == 0 && st != "" {
					fmt.Fprintf(w, "No rollout is %s.\n", st)
					return
				}
				if len(rs) == 0 {
					fmt.Fprintln(w, "No rollouts yet: write a plan with 'patchpilot plan' and run it with 'patchpilot rollout start PLAN'.")
					return
				}
				fmt.Fprintln(w, "ID\tSTATE\tPLAN\tSTAGES\tCREATED\tREASON")
				for _, r := range rs {
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, r.State, dash(r.Plan.Name), len(r.Stages),
						r.CreatedAt.Local().Format(time.DateTime), truncate(r.Reason, 80))
				}
			})
		}),
	}
	cmd.Flags().IntVar(&limit, "limit", 50, "list at most this many rollouts (0: all)")
	cmd.Flags().StringVar(&state, "state", "", "only rollouts in this state, such as running, waiting_approval or halted")
	notNegative(cmd, "limit", &limit)
	return cmd
}

func (c *cli) rolloutStatusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status ID",
		Short: "Show a rollout: its stages, each host's state, versions and reason, and incidents",
		Long: `Show a rollout with its stages and each host's pipeline. JSON fields: id,
state, reason, plan (the plan as started), stages: [{name, state, reason,
approved_by, hosts: [{name, state, from_versions, to_versions, started_at,
finished_at, reason, gate_results}]}], incidents.`,
		Args: exactArgs(1, "one rollout ID"),
		RunE: c.withReader(func(cmd *cobra.Command, args []string, a reader) error {
			st, err := a.RolloutStatus(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			dead := deadController(cmd.Context(), a, st)
			return c.render(st, func(w io.Writer) {
				writeRolloutStatus(w, st)
				if dead != "" {
					fmt.Fprintf(w, "\nNothing drives this rollout: %s.\nCarry it on with 'patchpilot rollout resume %s', which reads each host's real state first.\n", dead, st.ID)
				}
			})
		}),
	}
}

// deadController says why nothing drives a running rollout of the local
// database any more (app.Undriven), or "" when a controller may still
// drive it or the rollout is read through a server.
func deadController(ctx context.Context, r reader, st app.RolloutStatus) string {
	l, ok := r.(localReader)
	if !ok {
		return ""
	}
	return l.a.Undriven(ctx, st.ID, st.State)
}

// hostReasonWidth is how much of a host's reason the status table shows.
const hostReasonWidth = 100

func writeRolloutStatus(w io.Writer, st app.RolloutStatus) {
	fmt.Fprintf(w, "Rollout:\t%s\n", st.ID)
	fmt.Fprintf(w, "State:\t%s\n", st.State)
	if st.Reason != "" {
		fmt.Fprintf(w, "Reason:\t%s\n", st.Reason)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "STAGE\tHOST\tSTATE\tVERSIONS\tREASON")
	var long []patchpilot.HostRun
	for _, s := range st.Stages {
		fmt.Fprintf(w, "%s\t\t%s\t\t%s\n", s.Name, s.State, s.Reason)
		for _, h := range s.Hosts {
			fmt.Fprintf(w, "\t%s\t%s\t%s\t%s\n", h.Host, h.State, dash(versions(h)), truncate(h.Reason, hostReasonWidth))
			if len(h.Reason) > hostReasonWidth {
				long = append(long, h)
			}
			// The host's reason names the gates that decided; each
			// gate's own reason says why, one line each under it.
			for _, line := range gateLines(h.Gates) {
				fmt.Fprintf(w, "\t\t\t\t  %s\n", truncate(line, hostReasonWidth))
			}
		}
	}
	// The table cuts long reasons to keep its columns; this is the
	// command hints send people to for why a host failed, so the whole
	// reason follows the table.
	for i, h := range long {
		if i == 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s: %s\n", h.Host, h.Reason)
	}
	for _, inc := range st.Incidents {
		fmt.Fprintf(w, "\nIncident %d (%s, stage %s): %s; hosts %s\n", inc.ID, inc.Time.Local().Format(time.DateTime), dash(inc.Stage), inc.Reason, strings.Join(inc.Hosts, ", "))
	}
}

// gateLines says, one line each, why each gate of a host's record did
// not pass: those of the check that decided the host first, then those of
// the check after its rollback, marked so.
func gateLines(gates []patchpilot.GateResult) []string {
	var decided, after []string
	for _, g := range gates {
		if g.Outcome == patchpilot.GatePass {
			continue
		}
		line := g.Gate + " " + gateOutcomeWords(g.Outcome)
		if why := strings.Join(strings.Fields(g.Reason), " "); why != "" {
			line += ": " + why
		}
		if g.Phase == patchpilot.GateAfterRollback {
			after = append(after, "after the rollback: "+line)
		} else {
			decided = append(decided, line)
		}
	}
	return append(decided, after...)
}

func gateOutcomeWords(o patchpilot.GateOutcome) string {
	switch o {
	case patchpilot.GateBreach:
		return "breached"
	case patchpilot.GateCritical:
		return "breached (critical)"
	case patchpilot.GateError:
		return "could not be evaluated"
	case patchpilot.GateInconclusive:
		return "inconclusive"
	}
	return string(o)
}

func versions(h patchpilot.HostRun) string {
	var names []string
	for n := range h.ToVersions {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %s→%s", n, dash(h.FromVersions[n]), h.ToVersions[n]))
	}
	return strings.Join(parts, ", ")
}

func (c *cli) rolloutEventsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "events ID",
		Short: "Show a rollout's audit trail: who did what, when and why",
		Long:  "Show every event of a rollout in order. JSON fields: id, time, actor, kind, host, rollout, message, data.",
		Args:  exactArgs(1, "one rollout ID"),
		RunE: c.withReader(func(cmd *cobra.Command, args []string, a reader) error {
			evs, err := a.RolloutEvents(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return c.render(evs, func(w io.Writer) {
				fmt.Fprintln(w, "TIME\tACTOR\tKIND\tHOST\tMESSAGE")
				for _, e := range evs {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05.000"), e.Actor, e.Kind, dash(e.Host), e.Message)
					for _, line := range canaryLines(e) {
						fmt.Fprintf(w, "\t\t\t\t  %s\n", line)
					}
				}
			})
		}),
	}
}

func (c *cli) rolloutApproveCommand() *cobra.Command {
	var (
		stage string
		ef    engineFlags
		ff    followFlags
	)
	cmd := &cobra.Command{
		Use:   "approve ID",
		Short: "Approve a stage that waits for approval, and carry the rollout on",
		Long: `Approve the stage waiting for approval (or the one named with --stage). When
no controller is driving the rollout, this command drives it on in the
foreground, like 'rollout resume'; otherwise the running controller carries
on by itself. A stage for which the server's policy requires two approvers
starts at the second approval by a different person; the same person
approving twice exits 1.

` + rolloutExitCodes,
		Args: exactArgs(1, "one rollout ID"),
		RunE: c.orRemote(c.remoteApprove(&stage, &ef, &ff), c.withApp(func(cmd *cobra.Command, args []string, a *app.App) error {
			eng, err := c.engine(a, ef)
			if err != nil {
				return err
			}
			name, err := eng.Approve(cmd.Context(), args[0], stage, c.actor(a))
			if err != nil {
				return err
			}
			if st, err := a.RolloutStatus(cmd.Context(), args[0]); err == nil && stageWaitsForAnother(st, name) {
				c.note("approval of stage %s of rollout %s recorded; it needs another, distinct approver\n", name, args[0])
			} else {
				c.note("stage %s of rollout %s approved\n", name, args[0])
			}
			return c.driveAfterRequest(cmd, a, eng, args[0])
		})),
	}
	cmd.Flags().StringVar(&stage, "stage", "", "the stage to approve (default: the one waiting)")
	ef.register(cmd)
	ff.register(c, cmd)
	c.addSSHFlags(cmd.Flags())
	return cmd
}

// rolloutRequest is what pause and abort print with -o json|yaml.
type rolloutRequest struct {
	ID      string `json:"id"`
	Request string `json:"request"`
}

func (c *cli) rolloutPauseCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "pause ID",
		Short: "Stop dispatching hosts; hosts in flight finish",
		Args:  exactArgs(1, "one rollout ID"),
		RunE: c.orRemote(c.remotePause, c.withApp(func(cmd *cobra.Command, args []string, a *app.App) error {
			if err := a.Controller(app.EngineOptions{}).Pause(cmd.Context(), args[0], c.actor(a)); err != nil {
				return err
			}
			return c.render(rolloutRequest{ID: args[0], Request: "pause"}, func(w io.Writer) {
				fmt.Fprintf(w, "rollout %s paused: hosts in flight finish; resume with 'patchpilot rollout resume %[1]s'\n", args[0])
			})
		})),
	}
}

func (c *cli) rolloutAbortCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "abort ID",
		Short: "End a running, paused or held rollout: hosts not yet started are skipped, changed hosts stay as they are",
		Args:  exactArgs(1, "one rollout ID"),
		RunE: c.orRemote(c.remoteAbort, c.withApp(func(cmd *cobra.Command, args []string, a *app.App) error {
			if err := a.Controller(app.EngineOptions{}).Abort(cmd.Context(), args[0], c.actor(a)); err != nil {
				return err
			}
			st, err := a.RolloutStatus(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			next := st.NextStep()
			return c.render(rolloutRequest{ID: args[0], Request: "abort"}, func(w io.Writer) {
				fmt.Fprintf(w, "rollout %s aborted; %s\n", args[0], next)
			})
		})),
	}
}

func (c *cli) rolloutResumeCommand() *cobra.Command {
	var (
		ef engineFlags
		ff followFlags
	)
	cmd := &cobra.Command{
		Use:   "resume ID",
		Short: "Carry on a paused or held rollout, or one whose controller died",
		Long: `Carry on a rollout in the foreground: a paused one, one held after a stage
was rolled back, or one whose controller died (after its lease expired).
Hosts found in the middle of their pipeline are examined first: their
installed versions and boot id decide whether to apply, reboot or verify,
so that no host is patched twice and none is skipped.

` + rolloutExitCodes,
		Args: exactArgs(1, "one rollout ID"),
		RunE: c.orRemote(c.remoteResume(&ef, &ff), c.withApp(func(cmd *cobra.Command, args []string, a *app.App) error {
			eng, err := c.engine(a, ef)
			if err != nil {
				return err
			}
			state, err := eng.Resume(cmd.Context(), args[0], c.actor(a))
			return c.finish(cmd, a, args[0], state, err)
		})),
	}
	ef.register(cmd)
	ff.register(c, cmd)
	c.addSSHFlags(cmd.Flags())
	return cmd
}

func (c *cli) rolloutRollbackCommand() *cobra.Command {
	var (
		hosts []string
		ef    engineFlags
		ff    followFlags
	)
	cmd := &cobra.Command{
		Use:   "rollback ID [--hosts H1,H2]",
		Short: "Roll back changed hosts of a rollout, in reverse order of deployment",
		Long: `Roll back the named hosts of a rollout (default: every host it changed), in
reverse order of deployment, each verified afterwards (versions and
health). Hosts still in the middle of their pipeline are refused: pause the
rollout first. When no controller is driving the rollout, this command does
the rollbacks in the foreground.

` + rolloutExitCodes,
		Args: exactArgs(1, "one rollout ID"),
		RunE: c.orRemote(c.remoteRollback(&hosts, &ef, &ff), c.withApp(func(cmd *cobra.Command, args []string, a *app.App) error {
			eng, err := c.engine(a, ef)
			if err != nil {
				return err
			}
			marked, err := eng.RequestRollback(cmd.Context(), args[0], hosts, c.actor(a))
			if err != nil {
				return err
			}
			c.note("rollback of %s requested\n", strings.Join(marked, ", "))
			return c.driveAfterRequest(cmd, a, eng, args[0])
		})),
	}
	cmd.Flags().StringSliceVar(&hosts, "hosts", nil, "hosts to roll back (default: every changed host)")
	ef.register(cmd)
	ff.register(c, cmd)
	c.addSSHFlags(cmd.Flags())
	return cmd
}

// stageWaitsForAnother reports whether the named stage was approved by
// fewer people than the policy requires.
func stageWaitsForAnother(st app.RolloutStatus, stage string) bool {
	for _, s := range st.Stages {
		if s.Name == stage {
			return s.ApprovedBy == ""
		}
	}
	return false
}
