package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// advisory returns a Debian advisory for openssl modified at the given time.
func advisory(id string, modified time.Time, summary string, pkgs ...patchpilot.AffectedPackage) patchpilot.Advisory {
	if len(pkgs) == 0 {
		pkgs = []patchpilot.AffectedPackage{{Ecosystem: "Debian:12", Name: "openssl",
			Ranges: []patchpilot.VersionRange{{Introduced: "0", Fixed: "3.0.13-1~deb12u1"}}}}
	}
	return patchpilot.Advisory{
		ID: id, Aliases: []string{"CVE-2024-0727"}, Summary: summary,
		Published: baseTime.Add(-48 * time.Hour), Modified: modified,
		Severity: "high", CVSS: 7.5, CVSSVector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
		Affected: pkgs, Source: "debian-osv.zip",
	}
}

func (s suite) testAdvisories(t *testing.T) {
	ctx := context.Background()

	t.Run("RoundTripAndLookup", func(t *testing.T) {
		st := s.store(t)
		a := advisory("DSA-5678-1", baseTime, "openssl security update",
			patchpilot.AffectedPackage{Ecosystem: "Debian:12", Name: "openssl", Severity: "high",
				Ranges:   []patchpilot.VersionRange{{Introduced: "0", Fixed: "3.0.13-1~deb12u1"}},
				Versions: []string{"3.0.11-1~deb12u2"}},
			patchpilot.AffectedPackage{Ecosystem: "Debian:11", Name: "openssl",
				Ranges: []patchpilot.VersionRange{{Introduced: "1.1.1", LastAffected: "1.1.1w-0+deb11u1"}}},
		)
		b := advisory("CVE-2024-0001", baseTime, "zlib issue",
			patchpilot.AffectedPackage{Ecosystem: "Debian:12", Name: "zlib"},
			patchpilot.AffectedPackage{Ecosystem: "Debian:12", Name: "openssl"})
		n, err := st.SaveAdvisories(ctx, []patchpilot.Advisory{a, b})
		if err != nil || n != 2 {
			t.Fatalf("SaveAdvisories = %d, %v; want 2", n, err)
		}
		if count, err := st.AdvisoryCount(ctx); err != nil || count != 2 {
			t.Errorf("AdvisoryCount = %d, %v; want 2", count, err)
		}
		got, err := st.AdvisoriesFor(ctx, "Debian:12", "openssl")
		if err != nil {
			t.Fatalf("AdvisoriesFor: %v", err)
		}
		if want := []patchpilot.Advisory{b, a}; !reflect.DeepEqual(got, want) {
			t.Errorf("AdvisoriesFor(Debian:12, openssl):\n got %+v\nwant %+v (whole records, by id)", got, want)
		}
		got, err = st.AdvisoriesFor(ctx, "Debian:11", "openssl")
		if err != nil || len(got) != 1 || got[0].ID != "DSA-5678-1" {
			t.Errorf("AdvisoriesFor(Debian:11, openssl) = %v, %v; want DSA-5678-1", got, err)
		}
		for _, q := range [][2]string{{"Debian:12", "nginx"}, {"Ubuntu:22.04:LTS", "openssl"}, {"", ""}} {
			got, err := st.AdvisoriesFor(ctx, q[0], q[1])
			if err != nil || len(got) != 0 {
				t.Errorf("AdvisoriesFor(%q, %q) = %v, %v; want none", q[0], q[1], got, err)
			}
		}
	})

	t.Run("ReplaceIfNewer", func(t *testing.T) {
		st := s.store(t)
		v1 := advisory("DSA-1", baseTime, "first")
		if n, err := st.SaveAdvisories(ctx, []patchpilot.Advisory{v1}); err != nil || n != 1 {
			t.Fatalf("SaveAdvisories = %d, %v; want 1", n, err)
		}
		older := advisory("DSA-1", baseTime.Add(-time.Hour), "older")
		if n, err := st.SaveAdvisories(ctx, []patchpilot.Advisory{older}); err != nil || n != 0 {
			t.Errorf("saving an older record = %d, %v; want 0 written", n, err)
		}
		summaryOf := func(eco, pkg string) []string {
			t.Helper()
			got, err := st.AdvisoriesFor(ctx, eco, pkg)
			if err != nil {
				t.Fatalf("AdvisoriesFor: %v", err)
			}
			var out []string
			for _, a := range got {
				out = append(out, a.Summary)
			}
			return out
		}
		if got := summaryOf("Debian:12", "openssl"); !reflect.DeepEqual(got, []string{"first"}) {
			t.Errorf("after an older record: %v, want [first]", got)
		}
		same := advisory("DSA-1", baseTime, "corrected")
		if n, err := st.SaveAdvisories(ctx, []patchpilot.Advisory{same}); err != nil || n != 1 {
			t.Errorf("saving an equally new record = %d, %v; want 1 written", n, err)
		}
		if got := summaryOf("Debian:12", "openssl"); !reflect.DeepEqual(got, []string{"corrected"}) {
			t.Errorf("after an equally new record: %v, want [corrected]", got)
		}
		// A newer record that moves to another package drops the old link.
		newer := advisory("DSA-1", baseTime.Add(time.Hour), "moved",
			patchpilot.AffectedPackage{Ecosystem: "Debian:12", Name: "libssl"})
		if n, err := st.SaveAdvisories(ctx, []patchpilot.Advisory{newer}); err != nil || n != 1 {
			t.Errorf("saving a newer record = %d, %v; want 1 written", n, err)
		}
		if got := summaryOf("Debian:12", "openssl"); len(got) != 0 {
			t.Errorf("old package still links the replaced advisory: %v", got)
		}
		if got := summaryOf("Debian:12", "libssl"); !reflect.DeepEqual(got, []string{"moved"}) {
			t.Errorf("new package: %v, want [moved]", got)
		}
		if count, err := st.AdvisoryCount(ctx); err != nil || count != 1 {
			t.Errorf("AdvisoryCount = %d, %v; want 1", count, err)
		}
	})

	t.Run("UTC", func(t *testing.T) {
		st := s.store(t)
		zone := time.FixedZone("EST", -5*3600)
		a := advisory("DSA-2", baseTime.In(zone), "zoned")
		a.Published = a.Published.In(zone)
		if _, err := st.SaveAdvisories(ctx, []patchpilot.Advisory{a}); err != nil {
			t.Fatalf("SaveAdvisories: %v", err)
		}
		got, err := st.AdvisoriesFor(ctx, "Debian:12", "openssl")
		if err != nil || len(got) != 1 {
			t.Fatalf("AdvisoriesFor = %v, %v", got, err)
		}
		if !got[0].Modified.Equal(baseTime) || got[0].Modified.Location() != time.UTC ||
			got[0].Published.Location() != time.UTC {
			t.Errorf("times = %v, %v; want the same instants in UTC", got[0].Published, got[0].Modified)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		st := s.store(t)
		_, err := st.SaveAdvisories(ctx, []patchpilot.Advisory{advisory("OK-1", baseTime, ""), {}})
		wantCode(t, err, patchpilot.EINVALID, "")
		if count, err := st.AdvisoryCount(ctx); err != nil || count != 0 {
			t.Errorf("AdvisoryCount after a rejected batch = %d, %v; want 0", count, err)
		}
		if n, err := st.SaveAdvisories(ctx, nil); err != nil || n != 0 {
			t.Errorf("SaveAdvisories(nil) = %d, %v; want 0, nil", n, err)
		}
	})
}
