// Command judgebench evaluates patchpilot's canary judges on simulated
// metric series and prints three tables: for each scenario (A/A with AR(1)
// noise, A/B with +20% and 3x latency, a fleet-wide drift; then the same
// kinds of scenario on series read as Prometheus 1m rates every 5s, whose
// samples overlap; then a fleet like the canary lab test's, one patched
// host and one control with 30s rates and a 110s baseline) and each judge (the sequential judge and the
// Kayenta-compatible Mann-Whitney judge), the share of runs with any alarm
// when the gate is checked at every scrape of the bake, the share detected
// within the scenario's limit, the median time to detect and, for the
// sequential judge, the share promoted early and the median time to
// promote.
//
//	go run ./cmd/judgebench [-runs 500] [-seed 1] [-workers 2] [-rates=false] [-hide-window]
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
	var rates, hide bool
	fs.BoolVar(&rates, "rates", true, "also print the tables of series read as rates every 5s, whose samples overlap")
	fs.BoolVar(&hide, "hide-window", false, "declare the rate table's metric without its window, as a judge that cannot read the query's range")
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
	if rates {
		for _, t := range []struct {
			cfg       bench.Config
			scenarios []bench.Scenario
		}{
			{bench.RateConfig(cfg.Runs, cfg.Seed), bench.RateScenarios()},
			{bench.LabConfig(cfg.Runs, cfg.Seed), bench.LabScenarios()},
		} {
			t.cfg.Workers, t.cfg.HideWindow = cfg.Workers, hide
			rrep, err := bench.Run(t.cfg, t.scenarios)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout)
			if err := rrep.WriteTable(stdout); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(stderr, "judgebench: %s\n", time.Since(began).Round(time.Millisecond))
	return nil
}
