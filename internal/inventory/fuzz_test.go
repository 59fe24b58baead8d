package inventory

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// addSeeds adds every file under the given testdata directories as a seed.
func addSeeds(f *testing.F, dirs ...string) {
	for _, d := range dirs {
		_ = filepath.WalkDir(filepath.Join("testdata", d), func(p string, e os.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return nil
			}
			if data, err := os.ReadFile(p); err == nil && len(data) < 64<<10 {
				f.Add(data)
			}
			return nil
		})
	}
}

// resolveForFuzz resolves a parsed inventory without reading group_vars/
// or host_vars/ from disk.
func resolveForFuzz(in *inv) {
	r := &resolver{in: in, home: "/home/fuzz", source: "fuzz", warned: map[string]bool{}}
	hosts, err := r.resolve()
	if err == nil {
		for _, h := range hosts {
			if h.Name == "" {
				panic("resolved a host without a name")
			}
		}
	}
}

func FuzzParseINI(f *testing.F) {
	addSeeds(f, "ini", "bad")
	f.Add([]byte("[web]\nweb[01:03] ansible_port=22 role=\"a b\" # c\n[web:vars]\nx={'a': [1]}\n[p:children]\nweb\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := newInv()
		if err := parseINI(in, "fuzz.ini", data); err != nil {
			return
		}
		resolveForFuzz(in)
		// Limit must not panic on any pattern either; the input doubles as one.
		r := &resolver{in: in, source: "fuzz", warned: map[string]bool{}}
		if hosts, err := r.resolve(); err == nil {
			_, _ = Limit(hosts, string(data))
		}
	})
}

func FuzzParseYAML(f *testing.F) {
	addSeeds(f, "yaml", "hostlist", "bad")
	f.Add([]byte("all:\n  vars: &v {a: 1}\n  children:\n    g:\n      vars: {<<: *v}\n      hosts: {h[a:c]: {ansible_port: '22'}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := newInv()
		_, listed, err := parseFile(in, "fuzz.yml", data, Options{Home: "/home/fuzz"})
		if err != nil {
			return
		}
		for _, h := range listed {
			if h.Name == "" {
				t.Fatal("host list gave a host without a name")
			}
		}
		resolveForFuzz(in)
	})
}

func FuzzImportFacts(f *testing.F) {
	addSeeds(f, "adhoc", "facts-bad")
	f.Add([]byte(`{"ansible_facts": {"distribution": "Rocky", "packages": {"a": [{"version": "1", "release": "2", "epoch": 3}]}, "services": {"s": {"state": "running"}}}}`))
	f.Add([]byte("h | SUCCESS => {\"ansible_facts\": {\"ansible_distribution\": \"Debian\"}}\nh | FAILED! => {\"msg\": 1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fc := &factCollector{facts: map[string]*hostFacts{}}
		if err := fc.parse("fuzz.json", "", data, time.Unix(0, 0)); err != nil {
			return
		}
		for _, name := range fc.order {
			imp, err := mapFacts(name, fc.facts[name])
			if err == nil && imp.Facts.Source != FactsSource {
				t.Fatalf("source = %q", imp.Facts.Source)
			}
		}
	})
}
