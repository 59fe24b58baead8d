package osfamily

import (
	"os"
	"path/filepath"
	"slices"
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

// depthSeeds seeds a fuzz target with the depth step's lab captures and
// the raw /proc/net/tcp capture.
func depthSeeds(f *testing.F) {
	f.Helper()
	addSeeds(f, "depth.out")
	for _, p := range []string{"testdata/debian12-lab-nonroot/depth.out", "testdata/debian12-lab-proc/proc-net-tcp.out"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

func FuzzParseSS(f *testing.F) {
	depthSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		socks, err := ParseSS(data)
		if err != nil {
			return
		}
		for _, s := range socks {
			if s.State != "LISTEN" && s.State != "ESTAB" {
				t.Fatalf("kept a socket in state %q", s.State)
			}
			if s.LPort < 0 || s.LPort > 65535 || s.PPort < 0 || s.PPort > 65535 {
				t.Fatalf("port out of range: %+v", s)
			}
			if s.State == "ESTAB" && (s.LPort == 0 || s.PPort == 0) {
				t.Fatalf("established socket without ports: %+v", s)
			}
		}
	})
}

func FuzzParseProcNetTCP(f *testing.F) {
	depthSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		socks, err := ParseProcNetTCP(data)
		if err != nil {
			return
		}
		for _, s := range socks {
			if s.LPort > 65535 || s.PPort > 65535 || strings.Contains(s.Local, "%") {
				t.Fatalf("bad socket %+v", s)
			}
		}
	})
}

// FuzzDepth runs the whole depth step's parsing on any output: it never
// fails, and what it returns keeps its invariants.
func FuzzDepth(f *testing.F) {
	depthSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := Transcript{StepDepth: {Stdout: data}}
		d := Depth(tr, nil)
		if d == nil {
			t.Fatal("nil depth from a transcript with the depth step")
		}
		for _, c := range d.Connections {
			if (c.Direction != "in" && c.Direction != "out") || c.Port <= 0 || c.Port > 65535 {
				t.Fatalf("bad connection %+v", c)
			}
		}
		for _, s := range d.Services {
			if !unitName.MatchString(s.Unit) || !slices.IsSorted(s.Libraries) {
				t.Fatalf("bad service %+v", s)
			}
		}
		for _, a := range d.Addresses {
			if a == "" || a == "127.0.0.1" || a == "::1" {
				t.Fatalf("address %q listed", a)
			}
		}
		DepthServices(tr)
		DepthNeedsRestart(tr)
	})
}
