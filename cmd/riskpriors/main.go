// Command riskpriors turns the public regression data in
// ../shared/data/regression into what the product ships and evaluates on:
//
//	riskpriors [-data DIR] [-out FILE] [-until DATE]
//	    writes the cold-start priors (internal/risk/priors.json by default):
//	    global rate, rates per category, per CVE-count bucket, per advisory
//	    list and for new upstream versions against backported fixes, with
//	    their provenance (file names, row counts, date range).
//	riskpriors -jsonl FILE [-data DIR] [-from DATE] [-until DATE]
//	    converts the public data to the history format (one JSON line per
//	    Debian advisory and release, and per Ubuntu notice), with the
//	    advisory date as the time and "failed" for an update later followed
//	    by a regression fix, for `model eval`.
//
// Dates are YYYY-MM-DD and inclusive. Regression fixes themselves are left
// out. Run it from the repository root; the product never reads the public
// files at run time.
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
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return 2
	}
	if err := opts.execute(ctx, stdout); err != nil {
		fmt.Fprintln(stderr, "riskpriors:", err)
		return 1
	}
	return 0
}
