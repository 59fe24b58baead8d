package osfamily

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addSeeds seeds a fuzz target with the family transcripts of the given
// step.
func addSeeds(f *testing.F, file string) {
	f.Helper()
	paths, _ := filepath.Glob(filepath.Join("*", "testdata", "*", file))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

func FuzzParseFiles(f *testing.F) {
	addSeeds(f, "files.out")
	f.Fuzz(func(t *testing.T, data []byte) {
		files := ParseFiles(data, probeFiles)
		total := 0
		for path, body := range files {
			if indexFrom(probeFiles, path, 0) < 0 {
				t.Fatalf("file %q was not requested", path)
			}
			total += len(body)
		}
		if total > len(data) {
			t.Fatalf("file contents (%d bytes) longer than the output (%d bytes)", total, len(data))
		}
	})
}

func FuzzParseOSRelease(f *testing.F) {
	addSeeds(f, "files.out")
	f.Add([]byte("ID=debian\nVERSION_ID=\"12\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseOSRelease(data)
		if err == nil && r.ID == "" {
			t.Fatal("no error but no ID")
		}
	})
}

func FuzzParseUname(f *testing.F) {
	addSeeds(f, "uname.out")
	f.Fuzz(func(t *testing.T, data []byte) {
		h, k, a, err := ParseUname(data)
		if err == nil && (h == "" || k == "" || a == "" || strings.ContainsAny(h+k+a, " \n\t")) {
			t.Fatalf("bad fields %q %q %q", h, k, a)
		}
	})
}

func FuzzParseServices(f *testing.F) {
	addSeeds(f, "services.out")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, u := range ParseServices(data) {
			if !strings.HasSuffix(u, ".service") || len(u) <= len(".service") || strings.ContainsAny(u, " \t\n") {
				t.Fatalf("bad unit %q", u)
			}
		}
	})
}

func FuzzParseNeedsRestart(f *testing.F) {
	addSeeds(f, "needs_restart.out")
	f.Add([]byte("ssh.service\nnot a unit\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		units := ParseNeedsRestart(data)
		for i, u := range units {
			if !strings.HasSuffix(u, ".service") || strings.ContainsAny(u, " /\n") || (i > 0 && units[i-1] >= u) {
				t.Fatalf("bad or unsorted unit %q in %q", u, units)
			}
		}
	})
}
