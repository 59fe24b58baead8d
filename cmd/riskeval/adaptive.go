package main

import (
	"encoding/json"
	"flag"
	"io"

	"github.com/patchpilot/patchpilot/internal/sim"
)

func adaptiveCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("adaptive", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg sim.RolloutConfig
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed")
	fs.IntVar(&cfg.Rollouts, "rollouts", sim.DefaultRollouts, "rollouts of each kind (good, bad)")
	fs.IntVar(&cfg.Hosts, "hosts", sim.DefaultRolloutHosts, "fleet size")
	fs.IntVar(&cfg.Budget, "budget", 0, "broken hosts a rollout may cost (default 5% of the fleet)")
	out := fs.String("o", "table", "output: table or json")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	c, err := sim.CompareRollouts(cfg)
	if err != nil {
		return err
	}
	if *out == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(c)
	}
	sim.WriteComparison(stdout, c)
	return nil
}
