// Command riskeval evaluates the risk model and the adaptive planner:
//
//	riskeval eval -train FILE -test FILE [-priors FILE] [-o table|json]
//	    trains on one JSONL history and scores another in time order;
//	    prints AUC, Brier score, log loss, ECE and a calibration table for
//	    the model, the rule-based baseline and the base rate.
//	riskeval generate -out FILE [-seed N] [-hosts N] [-patches N]
//	    writes a generated history (internal/sim) in the JSONL format.
//	riskeval adaptive [-seed N] [-rollouts N] [-hosts N] [-o table|json]
//	    compares adaptive waves with the default plan's fixed waves on
//	    simulated rollouts of good and bad patches.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: riskeval eval|generate|adaptive [flags]")
		return 2
	}
	var err error
	switch args[0] {
	case "eval":
		err = evalCmd(ctx, args[1:], stdout, stderr)
	case "generate":
		err = generateCmd(args[1:], stdout, stderr)
	case "adaptive":
		err = adaptiveCmd(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "riskeval: unknown command %q (want eval, generate or adaptive)\n", args[0])
		return 2
	}
	if err == errUsage {
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "riskeval:", err)
		return 1
	}
	return 0
}
