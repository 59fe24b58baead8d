package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/patchpilot/patchpilot/internal/risk"
)

// Defaults, relative to the repository root.
const (
	defaultData = "../shared/data/regression"
	defaultOut  = "internal/risk/priors.json"
	dateLayout  = "2006-01-02"
)

type options struct {
	data, out, jsonl string
	from, until      time.Time
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("riskpriors", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var from, until string
	fs.StringVar(&o.data, "data", defaultData, "directory with the public regression CSV files")
	fs.StringVar(&o.out, "out", defaultOut, "priors file to write")
	fs.StringVar(&o.jsonl, "jsonl", "", "write the data as a JSONL history to this file instead of the priors")
	fs.StringVar(&from, "from", "", "keep advisories from this date (YYYY-MM-DD, inclusive)")
	fs.StringVar(&until, "until", "", "keep advisories up to this date (YYYY-MM-DD, inclusive)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "riskpriors: unexpected argument %q\n", fs.Arg(0))
		return o, flag.ErrHelp
	}
	for _, d := range []struct {
		name, v string
		t       *time.Time
	}{{"-from", from, &o.from}, {"-until", until, &o.until}} {
		if d.v == "" {
			continue
		}
		t, err := time.Parse(dateLayout, d.v)
		if err != nil {
			fmt.Fprintf(stderr, "riskpriors: %s: expected a date such as 2016-12-31, got %q\n", d.name, d.v)
			return o, err
		}
		*d.t = t
	}
	return o, nil
}

func (o options) keep(t time.Time) bool {
	return (o.from.IsZero() || !t.Before(o.from)) && (o.until.IsZero() || !t.After(o.until))
}

func (o options) execute(ctx context.Context, stdout io.Writer) error {
	ds, err := loadDataset(o.data, o.keep)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if o.jsonl != "" {
		recs := ds.records()
		if err := writeFile(o.jsonl, func(w io.Writer) error { return risk.WriteHistory(w, recs) }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %d records to %s\n", len(recs), o.jsonl)
		return nil
	}
	p := ds.priors()
	data, err := marshalPriors(p)
	if err != nil {
		return err
	}
	if err := writeFile(o.out, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: global %d of %d (%.2f%%), %d categories, %s to %s\n",
		o.out, p.Global.Failures, p.Global.Total, p.Global.Rate*100, len(p.Categories), p.Provenance.From, p.Provenance.To)
	return nil
}

// writeFile writes through a temporary file and a rename, so that a failed
// run never leaves half a priors file behind.
func writeFile(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".riskpriors-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
