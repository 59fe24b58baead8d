package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/risk"
)

func TestPriorsFromTinyData(t *testing.T) {
	out := filepath.Join(t.TempDir(), "priors.json")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-data", "testdata/regression", "-out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	p, err := risk.ParsePriors(data, out)
	if err != nil {
		t.Fatal(err)
	}
	// Four advisories (the two regression fixes left out), two followed by
	// a regression fix.
	if p.Global.Total != 4 || p.Global.Failures != 2 {
		t.Errorf("global = %+v, want 2 of 4", p.Global)
	}
	if c := p.Categories[risk.CategoryCrypto]; c.Total != 1 || c.Failures != 1 {
		t.Errorf("crypto = %+v", c)
	}
	if c := p.Categories[risk.CategoryBrowser]; c.Total != 1 || c.Failures != 1 {
		t.Errorf("browser = %+v (firefox thunderbird)", c)
	}
	if tr := p.Trackers["USN"]; tr.Total != 1 {
		t.Errorf("USN = %+v", tr)
	}
	if p.NewUpstream.Total != 1 || p.NewUpstream.Failures != 1 || p.Backport.Total != 1 {
		t.Errorf("upstream %+v backport %+v", p.NewUpstream, p.Backport)
	}
	var tenPlus risk.CVEBucket
	for _, b := range p.CVEBuckets {
		if b.Min == 10 {
			tenPlus = b
		}
	}
	if tenPlus.Total != 1 {
		t.Errorf("10+ CVE bucket = %+v", tenPlus)
	}
	if p.Provenance.From != "2015-01-02" || p.Provenance.To != "2017-05-01" || len(p.Provenance.Files) != 3 {
		t.Errorf("provenance = %+v", p.Provenance)
	}
}

func TestJSONLConversionWithDates(t *testing.T) {
	out := filepath.Join(t.TempDir(), "train.jsonl")
	var stdout, stderr bytes.Buffer
	args := []string{"-data", "testdata/regression", "-jsonl", out, "-until", "2016-12-31"}
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := risk.ReadHistory(f, out)
	if err != nil {
		t.Fatal(err)
	}
	// Debian: openssl and linux in jessie; Ubuntu: the firefox notice. The
	// 2017 nginx update is after -until.
	if len(recs) != 3 {
		t.Fatalf("got %d records: %+v", len(recs), recs)
	}
	first := recs[0]
	if first.Package != "openssl" || first.Host != "debian-jessie" || first.OS != "debian:8" || first.Role() != "dsa" ||
		first.Outcome != patchpilot.OutcomeFailed || !strings.Contains(first.Reason, "DSA-1-2") || len(first.CVEs) != 2 {
		t.Errorf("first record = %+v", first)
	}
	last := recs[2]
	if last.Package != "firefox" || last.CVECount != 5 || last.Role() != "usn" || last.OS != "ubuntu:16.04" {
		t.Errorf("ubuntu record = %+v", last)
	}
}

func TestBadInput(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-data", t.TempDir(), "-out", filepath.Join(t.TempDir(), "p.json")}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "not found") {
		t.Errorf("missing data: exit %d, %s", code, stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"-until", "2016"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "-until") {
		t.Errorf("bad date: exit %d, %s", code, stderr.String())
	}
}
