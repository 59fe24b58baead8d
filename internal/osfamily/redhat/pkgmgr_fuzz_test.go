package redhat

import (
	"os"
	"path/filepath"
	"testing"
)

func addPMSeeds(f *testing.F) {
	f.Helper()
	paths, _ := filepath.Glob(filepath.Join("testdata", "pkgmgr", "*"))
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
}

func FuzzParseTransaction(f *testing.F) {
	addPMSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range ParseTransaction(data).Changes {
			if c.Name == "" || c.Action == "" {
				t.Fatalf("change without a name or action: %+v", c)
			}
		}
	})
}

func FuzzParseHistoryList(f *testing.F) {
	addPMSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		ids, err := ParseHistoryList(data)
		for _, id := range ids {
			if err == nil && id <= 0 {
				t.Fatalf("id %d", id)
			}
		}
	})
}

func FuzzParseInstalledRPM(f *testing.F) {
	addPMSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseInstalled(data)
		if err != nil {
			return
		}
		for n, v := range got {
			if n == "" || v == "" {
				t.Fatalf("empty %q=%q", n, v)
			}
		}
	})
}

func FuzzParseVersionlock(f *testing.F) {
	addPMSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, n := range ParseVersionlock(data) {
			if n == "" {
				t.Fatal("empty name")
			}
		}
	})
}
