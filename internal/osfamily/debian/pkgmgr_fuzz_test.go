package debian

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addPMSeeds adds every package manager transcript as a seed.
func addPMSeeds(f *testing.F) {
	f.Helper()
	paths, _ := filepath.Glob(filepath.Join("testdata", "pkgmgr", "*.out"))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

func FuzzParseInstalled(f *testing.F) {
	addPMSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseInstalled(data)
		if err != nil {
			return
		}
		for name, v := range got {
			if name == "" || v == "" {
				t.Fatalf("empty name or version: %q=%q", name, v)
			}
		}
	})
}

func FuzzParseMadison(f *testing.F) {
	addPMSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseMadison(data)
		if err != nil {
			return
		}
		for name, vs := range got {
			for _, v := range vs {
				if name == "" || v == "" || strings.Contains(v, "|") {
					t.Fatalf("bad entry %q=%q", name, v)
				}
			}
		}
	})
}

func FuzzParseDpkgProgress(f *testing.F) {
	addPMSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		seen := map[string]bool{}
		for _, c := range ParseDpkgProgress(data) {
			if c.Name == "" || seen[c.Name] || (c.From == "" && c.To == "") {
				t.Fatalf("bad or repeated change %+v", c)
			}
			seen[c.Name] = true
		}
		_ = tailOf(data)
	})
}

func FuzzParseAptErrors(f *testing.F) {
	addPMSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range ParseAptErrors(data).Unavailable {
			if p.Name == "" {
				t.Fatalf("unavailable pin without a name: %+v", p)
			}
		}
	})
}

func FuzzParseDebInfo(f *testing.F) {
	f.Add([]byte("Package: pp-demo-web\nVersion: 1.0.0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, v, err := ParseDebInfo(data)
		if err == nil && (n == "" || v == "") {
			t.Fatalf("no error but %q %q", n, v)
		}
	})
}

func FuzzParseFreeSpace(f *testing.F) {
	f.Add([]byte("    Avail\n526548992\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if n, err := ParseFreeSpace(data); err == nil && n < 0 {
			t.Fatalf("negative free space %d", n)
		}
	})
}
