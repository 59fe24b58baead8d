package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/patchpilot/patchpilot/internal/risk"
)

var errUsage = errors.New("usage")

func readHistoryFile(path string) ([]risk.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return risk.ReadHistory(f, path)
}

func evalCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	train := fs.String("train", "", "JSONL history to train on")
	test := fs.String("test", "", "JSONL history to score")
	priorsFile := fs.String("priors", "", "priors file (default: the embedded priors)")
	out := fs.String("o", "table", "output: table or json")
	frozen := fs.Bool("freeze-history", false, "score the test records against the training history only (for outcomes known late)")
	weights := fs.Bool("weights", false, "also print the model's standardised weights")
	if err := fs.Parse(args); err != nil || *train == "" || *test == "" {
		if err == nil {
			fmt.Fprintln(stderr, "riskeval eval: -train and -test are required")
		}
		return errUsage
	}
	trainRecs, err := readHistoryFile(*train)
	if err != nil {
		return err
	}
	testRecs, err := readHistoryFile(*test)
	if err != nil {
		return err
	}
	opts := risk.TrainOptions{Source: *train}
	if *priorsFile != "" {
		data, err := os.ReadFile(*priorsFile)
		if err != nil {
			return err
		}
		p, err := risk.ParsePriors(data, *priorsFile)
		if err != nil {
			return err
		}
		opts.Priors = &p
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m, err := risk.Train(trainRecs, opts)
	if err != nil {
		return err
	}
	rep := risk.EvaluateWith(m, testRecs, risk.EvalOptions{FreezeHistory: *frozen})
	if *out == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			ModelVersion string `json:"model_version"`
			risk.Report
		}{m.Version, rep})
	}
	fmt.Fprintf(stdout, "model %s trained on %d records (%d failures), %s to %s; test %d records (%d failures)\n",
		m.Version, m.Training.Records, m.Training.Failures, m.Training.From.Format("2006-01-02"),
		m.Training.To.Format("2006-01-02"), rep.Model.N, int(rep.Model.Rate*float64(rep.Model.N)+0.5))
	risk.WriteReport(stdout, rep)
	if *weights {
		fmt.Fprintf(stdout, "\nweights (standardised; Platt a=%.3f b=%.3f; strengths %+v)\n", m.PlattA, m.PlattB, m.Strengths)
		for i, n := range m.Features {
			fmt.Fprintf(stdout, "%-22s %+.3f\n", n, m.Weights[i])
		}
	}
	return nil
}
