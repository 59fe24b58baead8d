package osv

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
)

// FuzzParse checks that no input makes Parse (or matching what it parsed)
// panic, and that what Parse accepts satisfies its validation.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.json")
	more, _ := filepath.Glob("testdata/records/*/*.json")
	for _, p := range append(seeds, more...) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(minimal(`{"package": {"ecosystem": "AlmaLinux:9", "name": "x"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1:1.0-1"}, {"limit": "2.0"}]}]}`)))
	f.Add([]byte(`{"id": "X", "modified": "2024-01-01T00:00:00Z", "severity": [{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		adv, err := Parse(data, "fuzz.json")
		if err != nil {
			if patchpilot.ErrorCode(err) != patchpilot.EINVALID {
				t.Fatalf("error code %q: %v", patchpilot.ErrorCode(err), err)
			}
			return
		}
		if adv.ID == "" || adv.Modified.IsZero() {
			t.Fatalf("accepted a record without id or modified: %+v", adv)
		}
		for _, ap := range adv.Affected {
			if ap.Ecosystem == "" || ap.Name == "" {
				t.Fatalf("accepted an affected entry without a package: %+v", ap)
			}
			family := osfamily.FromEcosystem(ap.Ecosystem)
			if family == patchpilot.FamilyUnknown {
				continue
			}
			for _, v := range []string{"0:1.0-1", "1.0-1", "2:0.1-1"} {
				// Errors are allowed (versions the family cannot order);
				// panics are not.
				_, _, _ = Match(adv, Target{Ecosystem: ap.Ecosystem, Names: []string{ap.Name}, Installed: v, Candidate: "9.9-9"})
			}
		}
	})
}
