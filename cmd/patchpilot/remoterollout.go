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

// followFlags are the flags of the driving commands that only mean
// something against a server, which drives the rollout itself: the
// command follows it, or returns at once.
type followFlags struct {
	detach bool
}

// defaultPollInterval is how often a followed rollout is looked at.
const defaultPollInterval = time.Second

func (f *followFlags) register(c *cli, cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.BoolVar(&f.detach, "detach", false, "with --server: return once the server took the request, without following the rollout (exit 0)")
	fs.DurationVar(&c.pollInterval, "poll-interval", defaultPollInterval, "with --server: time between two looks at the rollout followed")
}

// orRemote runs remote against the server when one is given, else local.
func (c *cli) orRemote(remote func(cmd *cobra.Command, args []string, cl *server.Client) error, local func(*cobra.Command, []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if !c.isRemote(cmd) {
			if f := cmd.Flags().Lookup("poll-interval"); f != nil && f.Changed {
				return patchpilot.Errorf(patchpilot.EINVALID, "--poll-interval works only with --server URL (or PATCHPILOT_SERVER)")
			}
			return local(cmd, args)
		}
		if c.pollInterval <= 0 {
			return patchpilot.Errorf(patchpilot.EINVALID, "--poll-interval %s: expected a positive duration such as 1s", c.pollInterval)
		}
		cl, err := c.client(cmd)
		if err != nil {
			return err
		}
		return remote(cmd, args, cl)
	}
}

// follow watches a rollout the server drives, printing its events as
// the local controller prints them, then its status, and turns its state
// into the exit code as the local commands do. With --detach it prints
// the status at once and exits 0.
func (c *cli) follow(cmd *cobra.Command, cl *server.Client, id string, after int64, ef engineFlags, ff followFlags) error {
	return c.followRequest(cmd, cl, id, after, false, ef, ff)
}

// followRequest is follow after a request that reaches the rollout after
// the server answered (see server.FollowOptions.AwaitRequest).
func (c *cli) followRequest(cmd *cobra.Command, cl *server.Client, id string, after int64, await bool, ef engineFlags, ff followFlags) error {
	if ff.detach {
		st, err := cl.RolloutStatus(cmd.Context(), id)
		if err != nil {
			return err
		}
		return c.render(st, func(w io.Writer) { writeRolloutStatus(w, st) })
	}
	st, err := cl.Follow(cmd.Context(), id, server.FollowOptions{Interval: c.pollInterval, ApprovalWait: ef.approvalWait,
		After: after, AwaitRequest: await, OnEvent: c.progress})
	if err != nil {
		return err
	}
	if err := c.render(st, func(w io.Writer) { writeRolloutStatus(w, st) }); err != nil {
		return err
	}
	return app.RolloutResult(st)
}

func (c *cli) remoteStart(dryRun *bool, ef *engineFlags, ff *followFlags) func(*cobra.Command, []string, *server.Client) error {
	return func(cmd *cobra.Command, args []string, cl *server.Client) error {
		// Read and checked here first: a bad plan is named by its file
		// and line, as locally.
		_, src, err := app.ReadPlan(args[0])
		if err != nil {
			return err
		}
		st, err := cl.StartRollout(cmd.Context(), src, *dryRun)
		if err != nil {
			return err
		}
		c.note("rollout %s\n", st.ID)
		return c.follow(cmd, cl, st.ID, 0, *ef, *ff)
	}
}

func (c *cli) remoteApprove(stage *string, ef *engineFlags, ff *followFlags) func(*cobra.Command, []string, *server.Client) error {
	return func(cmd *cobra.Command, args []string, cl *server.Client) error {
		ctx, id := cmd.Context(), args[0]
		after, err := cl.LastEventID(ctx, id)
		if err != nil {
			return err
		}
		done, err := cl.Approve(ctx, id, *stage)
		if err != nil {
			return err
		}
		if st, err := cl.RolloutStatus(ctx, id); err == nil && stageWaitsForAnother(st, done.Stage) {
			c.note("approval of stage %s of rollout %s recorded; it needs another, distinct approver\n", done.Stage, id)
		} else {
			c.note("stage %s of rollout %s approved\n", done.Stage, id)
		}
		return c.follow(cmd, cl, id, after, *ef, *ff)
	}
}

func (c *cli) remotePause(cmd *cobra.Command, args []string, cl *server.Client) error {
	if _, err := cl.Pause(cmd.Context(), args[0]); err != nil {
		return err
	}
	return c.render(rolloutRequest{ID: args[0], Request: "pause"}, func(w io.Writer) {
		fmt.Fprintf(w, "rollout %s paused: hosts in flight finish; resume with 'patchpilot rollout resume %[1]s'\n", args[0])
	})
}

func (c *cli) remoteAbort(cmd *cobra.Command, args []string, cl *server.Client) error {
	if _, err := cl.Abort(cmd.Context(), args[0]); err != nil {
		return err
	}
	st, err := cl.RolloutStatus(cmd.Context(), args[0])
	if err != nil {
		return err
	}
	next := st.NextStep()
	return c.render(rolloutRequest{ID: args[0], Request: "abort"}, func(w io.Writer) {
		fmt.Fprintf(w, "rollout %s aborted; %s\n", args[0], next)
	})
}

func (c *cli) remoteResume(ef *engineFlags, ff *followFlags) func(*cobra.Command, []string, *server.Client) error {
	return func(cmd *cobra.Command, args []string, cl *server.Client) error {
		after, err := cl.LastEventID(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if _, err := cl.Resume(cmd.Context(), args[0]); err != nil {
			return err
		}
		return c.followRequest(cmd, cl, args[0], after, true, *ef, *ff)
	}
}

func (c *cli) remoteRollback(hosts *[]string, ef *engineFlags, ff *followFlags) func(*cobra.Command, []string, *server.Client) error {
	return func(cmd *cobra.Command, args []string, cl *server.Client) error {
		after, err := cl.LastEventID(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		done, err := cl.Rollback(cmd.Context(), args[0], *hosts)
		if err != nil {
			return err
		}
		c.note("rollback of %s requested\n", strings.Join(done.Hosts, ", "))
		return c.follow(cmd, cl, args[0], after, *ef, *ff)
	}
}

// remotePlan proposes the plan in the server, which stores it, and
// prints it as 'plan' prints a local one, with its id on stderr.
func (c *cli) remotePlan(spec *string, targets, outFile *string, allowQuarantined bool) func(*cobra.Command, []string, *server.Client) error {
	return func(cmd *cobra.Command, _ []string, cl *server.Client) error {
		created, err := cl.CreatePlanWith(cmd.Context(), *spec, *targets, allowQuarantined)
		if err != nil {
			return err
		}
		var silent []string
		for _, h := range created.LeftOutReasons {
			if h.Reason == app.NeverAnsweredReason {
				silent = append(silent, h.Host)
			}
		}
		if n := len(silent); n > 0 {
			fmt.Fprintf(c.stderr, "left out %d hosts that never answered (no facts collected): %s; collect them with 'patchpilot inventory collect', or name them with --targets\n",
				n, escapeControls(strings.Join(silent, ", "), false))
		}
		res := planResult{ID: created.ID, Targets: created.Targets, LeftOut: created.LeftOut, LeftOutReasons: created.LeftOutReasons,
			Level: created.Level, Header: created.Header, Stages: created.Stages, Plan: created.Source}
		if res.LeftOut == nil {
			res.LeftOut = []string{}
		}
		if res.LeftOutReasons == nil {
			res.LeftOutReasons = []app.LeftOutHost{}
		}
		if len(res.Header) == 0 {
			res.Header = nil // as the planner answers a plan without comments
		}
		if *outFile != "" && *outFile != "-" {
			if err := writeOutFile("--out", *outFile, []byte(res.Plan)); err != nil {
				return err
			}
			res.File = *outFile
			p, err := app.ParsePlan([]byte(res.Plan), *outFile)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stderr, "wrote %s: %s over %s, risk %s\n", *outFile, counted(len(p.Stages), "stage", "stages"), counted(len(res.Targets), "host", "hosts"), res.Level)
		}
		fmt.Fprintf(c.stderr, "plan %s stored in %s\n", created.ID, cl.URL())
		if f, _ := parseFormat(c.output); f != formatTable {
			return c.render(res, nil)
		}
		if res.File == "" {
			_, err = fmt.Fprint(c.stdout, escapeControls(res.Plan, true))
		}
		return err
	}
}
