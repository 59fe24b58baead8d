// Package osfamilytest holds the test helpers that every family's
// collector tests share: transcripts under testdata parsed the way live
// output is, and those transcripts as fuzz seeds.
package osfamilytest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
)

// ParseFunc is a family's Parse: facts from a probe and a transcript.
type ParseFunc func(osfamily.Probe, osfamily.Transcript) (patchpilot.Facts, error)

// ParseDir reads the transcript directory testdata/name and parses it with
// parse, the way a collector parses live output, failing the test on any
// error.
func ParseDir(t testing.TB, name string, parse ParseFunc) (patchpilot.Facts, osfamily.Transcript) {
	t.Helper()
	tr, err := osfamily.ReadTranscript(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	p, err := osfamily.ParseProbe(tr)
	if err != nil {
		t.Fatalf("ParseProbe: %v", err)
	}
	f, err := parse(p, tr)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f, tr
}

// AddSeeds adds the file of every transcript directory under testdata
// (testdata/*/file) to f's seed corpus.
func AddSeeds(f *testing.F, file string) {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*", file))
	if err != nil {
		f.Fatal(err)
	}
	if len(paths) == 0 {
		f.Fatalf("no testdata/*/%s to seed from", file)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}
