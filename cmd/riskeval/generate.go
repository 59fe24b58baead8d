package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

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
	testOut := fs.String("test", "", "also split by time: write the last 30% of the patch period here, the rest to -out")
	if err := fs.Parse(args); err != nil || *out == "" {
		if err == nil {
			fmt.Fprintln(stderr, "riskeval generate: -out is required")
		}
		return errUsage
	}
	recs := sim.Records(sim.GenerateHistory(sim.HistoryConfig{Seed: *seed, Hosts: *hosts, Patches: *patches}))
	if *testOut != "" {
		at := sim.DefaultStart().Add(time.Duration(*patches*7/10) * sim.DefaultEvery)
		var train, test []risk.Record
		for _, r := range recs {
			if r.Time.Before(at) {
				train = append(train, r)
			} else {
				test = append(test, r)
			}
		}
		if err := writeHistoryFile(*testOut, test); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %d records to %s\n", len(test), *testOut)
		recs = train
	}
	if err := writeHistoryFile(*out, recs); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d records to %s\n", len(recs), *out)
	return nil
}

func writeHistoryFile(path string, recs []risk.Record) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := risk.WriteHistory(f, recs); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
