package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/patchpilot/patchpilot/internal/risk"
	"github.com/patchpilot/patchpilot/internal/sim"
)

func generateCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "JSONL file to write")
	seed := fs.Uint64("seed", 1, "random seed")
	hosts := fs.Int("hosts", sim.DefaultHosts, "fleet size")
	patches := fs.Int("patches", sim.DefaultPatches, "number of patches")
	if err := fs.Parse(args); err != nil || *out == "" {
		if err == nil {
			fmt.Fprintln(stderr, "riskeval generate: -out is required")
		}
		return errUsage
	}
	recs := sim.Records(sim.GenerateHistory(sim.HistoryConfig{Seed: *seed, Hosts: *hosts, Patches: *patches}))
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := risk.WriteHistory(f, recs); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d records to %s\n", len(recs), *out)
	return nil
}
