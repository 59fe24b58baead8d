// Command judgebench evaluates patchpilot's canary judges on simulated
// metric series and prints one table: for each scenario (A/A with AR(1)
// noise, A/B with +20% and 3x latency, a fleet-wide drift) and each judge
// (the sequential judge and the Kayenta-compatible Mann-Whitney judge), the
// share of runs with any alarm when the gate is checked at every scrape of
// the bake, the share detected within the scenario's limit and the median
// time to detect.
//
//	go run ./cmd/judgebench [-runs 500] [-seed 1] [-workers 2]
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
	fs.IntVar(&cfg.Runs, "runs", 500, "simulated runs per scenario")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed; the table is the same for the same seed")
	fs.IntVar(&cfg.Workers, "workers", runtime.GOMAXPROCS(0), "parallel workers (does not change the results)")
	fs.Float64Var(&cfg.Phi, "phi", bench.DefaultPhi, "AR(1) coefficient of the per-host noise")
	fs.Float64Var(&cfg.Noise, "noise", bench.DefaultNoise, "marginal standard deviation of the noise, log scale")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.Runs <= 0 {
		return fmt.Errorf("-runs: want a positive number, got %d", cfg.Runs)
	}
	began := time.Now()
	rep, err := bench.Run(cfg, bench.Scenarios())
	if err != nil {
		return err
	}
	if err := rep.WriteTable(stdout); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "judgebench: %s\n", time.Since(began).Round(time.Millisecond))
	return nil
}
