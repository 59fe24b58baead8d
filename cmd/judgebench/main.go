// Command judgebench evaluates patchpilot's canary judges on simulated
// metric series and prints two tables.
//
// The first compares both judges (the sequential judge and the
// Kayenta-compatible Mann-Whitney judge) on the bench's own fleet: for
// each scenario (A/A with AR(1) noise, A/B with +20% and 3x latency, a
// fleet-wide drift), the share of runs with any alarm when the gate is
// checked at every scrape of the bake, the share detected within the
// scenario's limit and the median time to detect.
//
// The second, the noise suite, checks the sequential judge under noise it
// was not tuned on (heavy tails, strong autocorrelation, uneven hosts, one
// canary against two controls, daily cycles in different phases, a control
// changing on its own, early outliers) with a plan's usual settings, each
// with no change, a +20% regression and a 2%-a-minute leak: false alarms,
// a harmless patch's Pass, the undecided share, detection and time to
// decide.
//
//	go run ./cmd/judgebench [-runs 300] [-seed 1] [-workers N] [-suite all|judges|noise]
//
// The output is the same for the same flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"time"

	"github.com/patchpilot/patchpilot/internal/judge/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "judgebench:", err)
		os.Exit(1)
	}
}

func run(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("judgebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg bench.Config
	fs.IntVar(&cfg.Runs, "runs", 300, "simulated runs per scenario (and per cell of the noise suite)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed; the tables are the same for the same seed")
	fs.IntVar(&cfg.Workers, "workers", runtime.GOMAXPROCS(0), "parallel workers (does not change the results)")
	fs.Float64Var(&cfg.Phi, "phi", bench.DefaultPhi, "AR(1) coefficient of the per-host noise (first table)")
	fs.Float64Var(&cfg.Noise, "noise", bench.DefaultNoise, "marginal standard deviation of the noise, log scale (first table)")
	suite := fs.String("suite", "all", "tables to print: all, judges (the first) or noise (the noise suite)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.Runs <= 0 {
		return fmt.Errorf("-runs: want a positive number, got %d", cfg.Runs)
	}
	if cfg.Workers <= 0 {
		return fmt.Errorf("-workers: want a positive number, got %d", cfg.Workers)
	}
	if *suite != "all" && *suite != "judges" && *suite != "noise" {
		return fmt.Errorf("-suite: want all, judges or noise, got %q", *suite)
	}
	began := time.Now()
	if *suite != "noise" {
		rep, err := bench.Run(cfg, bench.Scenarios())
		if err != nil {
			return err
		}
		if err := rep.WriteTable(stdout); err != nil {
			return err
		}
		fmt.Fprintln(stdout)
	}
	if *suite != "judges" {
		rep, err := bench.RunNoise(cfg.Runs, cfg.Seed, cfg.Workers, bench.Conditions())
		if err != nil {
			return err
		}
		if err := rep.WriteTable(stdout); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "judgebench: %s\n", time.Since(began).Round(time.Millisecond))
	return nil
}
