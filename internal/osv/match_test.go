package osv

import (
	"reflect"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

func TestMatch(t *testing.T) {
	debian := patchpilot.Advisory{
		ID: "DSA-1", Aliases: []string{"CVE-2024-1"}, Severity: "high", CVSS: 7.5,
		Affected: []patchpilot.AffectedPackage{
			{Ecosystem: "Debian:12", Name: "openssl", Ranges: []patchpilot.VersionRange{{Introduced: "0", Fixed: "3.0.11-1~deb12u2"}}},
			{Ecosystem: "Debian:12", Name: "bind9", Ranges: []patchpilot.VersionRange{{Introduced: "0", Fixed: "1:9.18.24-1"}}},
			{Ecosystem: "Debian:12", Name: "curl", Ranges: []patchpilot.VersionRange{{Introduced: "7.88.0-1", LastAffected: "7.88.1-10"}}},
			{Ecosystem: "Debian:12", Name: "zlib", Versions: []string{"1:1.2.13.dfsg-1", "0:1.3-1"}},
			{Ecosystem: "Debian:12", Name: "two", Ranges: []patchpilot.VersionRange{
				{Introduced: "1.0-1", Fixed: "1.2-1"}, {Introduced: "2.0-1", Fixed: "2.3-1"}}},
			{Ecosystem: "Debian:12", Name: "nofix", Ranges: []patchpilot.VersionRange{{Introduced: "0"}}},
		},
	}
	alma := patchpilot.Advisory{
		ID: "ALSA-2022:7288", Aliases: []string{"CVE-2022-3602"}, Severity: "high",
		Affected: []patchpilot.AffectedPackage{
			{Ecosystem: "AlmaLinux:9", Name: "openssl-libs", Ranges: []patchpilot.VersionRange{{Introduced: "0", Fixed: "1:3.0.1-43.el9_0"}}},
			{Ecosystem: "AlmaLinux:9", Name: "kernel", Ranges: []patchpilot.VersionRange{{Introduced: "0", Fixed: "5.14.0-70.30.1.el9_0"}}},
		},
	}
	ubuntu := patchpilot.Advisory{
		ID: "CVE-2024-0727", Severity: "medium", CVSS: 5.5,
		Affected: []patchpilot.AffectedPackage{
			{Ecosystem: "Ubuntu:22.04:LTS", Name: "openssl", Severity: "low", Ranges: []patchpilot.VersionRange{{Introduced: "0", Fixed: "3.0.2-0ubuntu1.14"}}},
			{Ecosystem: "Ubuntu:Pro:16.04:LTS", Name: "openssl", Severity: "low", Ranges: []patchpilot.VersionRange{{Introduced: "0", Fixed: "1.0.2g-1ubuntu4.20+esm11"}}},
		},
	}
	tests := []struct {
		name      string
		adv       patchpilot.Advisory
		ecosystem string
		names     []string
		installed string
		candidate string
		want      bool
	}{
		{"fixed by candidate", debian, "Debian:12", []string{"openssl"}, "3.0.11-1~deb12u1", "3.0.11-1~deb12u2", true},
		{"candidate beyond fix", debian, "Debian:12", []string{"openssl"}, "3.0.9-1", "3.0.13-1~deb12u1", true},
		{"installed already fixed", debian, "Debian:12", []string{"openssl"}, "3.0.11-1~deb12u2", "3.0.13-1~deb12u1", false},
		{"candidate still affected", debian, "Debian:12", []string{"openssl"}, "3.0.9-1", "3.0.11-1~deb12u1", false},
		{"binary matched through its source", debian, "Debian:12", []string{"libssl3", "openssl"}, "3.0.11-1~deb12u1", "3.0.11-1~deb12u2", true},
		{"binary name alone does not match a source record", debian, "Debian:12", []string{"libssl3"}, "3.0.11-1~deb12u1", "3.0.11-1~deb12u2", false},
		{"other ecosystem", debian, "Debian:11", []string{"openssl"}, "3.0.11-1~deb12u1", "3.0.11-1~deb12u2", false},
		{"other package", debian, "Debian:12", []string{"gnutls28"}, "1.0-1", "2.0-1", false},
		{"new package fixes nothing", debian, "Debian:12", []string{"openssl"}, "", "3.0.11-1~deb12u2", false},
		{"Debian epoch fixed", debian, "Debian:12", []string{"bind9"}, "1:9.18.19-1~deb12u1", "1:9.18.24-1", true},
		{"Debian epoch compares strictly", debian, "Debian:12", []string{"bind9"}, "1:9.18.19-1~deb12u1", "9.18.28-1", false},
		{"last_affected: candidate past it", debian, "Debian:12", []string{"curl"}, "7.88.1-10", "7.88.1-10+deb12u1", true},
		{"last_affected: candidate equals it", debian, "Debian:12", []string{"curl"}, "7.88.1-9", "7.88.1-10", false},
		{"last_affected: installed before introduced", debian, "Debian:12", []string{"curl"}, "7.74.0-1.3", "7.88.1-10+deb12u1", false},
		{"listed version", debian, "Debian:12", []string{"zlib"}, "1:1.2.13.dfsg-1", "1:1.2.13.dfsg-1+deb12u1", true},
		{"listed version with explicit zero epoch", debian, "Debian:12", []string{"zlib"}, "1.3-1", "1.3-2", true},
		{"unlisted version", debian, "Debian:12", []string{"zlib"}, "1.2.13.dfsg-1", "1.3-2", false},
		{"second interval", debian, "Debian:12", []string{"two"}, "2.1-1", "2.3-1", true},
		{"between intervals", debian, "Debian:12", []string{"two"}, "1.5-1", "2.3-1", false},
		{"into second interval", debian, "Debian:12", []string{"two"}, "1.1-1", "2.1-1", false},
		{"no fix known", debian, "Debian:12", []string{"nofix"}, "1.0-1", "2.0-1", false},
		{"rpm epoch in fix, none in versions", alma, "AlmaLinux:9", []string{"openssl-libs", "openssl"}, "3.0.1-41.el9", "3.0.1-43.el9_0", true},
		{"rpm epoch everywhere", alma, "AlmaLinux:9", []string{"openssl-libs"}, "1:3.0.1-41.el9", "1:3.0.1-43.el9_0", true},
		{"rpm installed fixed", alma, "AlmaLinux:9", []string{"openssl-libs"}, "3.0.1-43.el9_0", "3.0.1-47.el9_1", false},
		{"rpm candidate older than fix", alma, "AlmaLinux:9", []string{"openssl-libs"}, "1:3.0.1-41.el9", "1:3.0.1-42.el9", false},
		{"rpm explicit lower epoch stays lower", alma, "AlmaLinux:9", []string{"openssl-libs"}, "0:3.0.1-41.el9", "0:3.0.5-1.el9", false},
		{"rpm minor release host", alma, "AlmaLinux:9.4", []string{"kernel"}, "5.14.0-70.22.1.el9_0", "5.14.0-70.30.1.el9_0", true},
		{"rpm binary name, source given too", alma, "AlmaLinux:9", []string{"openssl-libs", "openssl"}, "1:3.0.1-41.el9", "1:3.0.1-43.el9_0", true},
		{"Ubuntu", ubuntu, "Ubuntu:22.04:LTS", []string{"libssl3", "openssl"}, "3.0.2-0ubuntu1.13", "3.0.2-0ubuntu1.14", true},
		{"Ubuntu Pro record covers the release", ubuntu, "Ubuntu:16.04:LTS", []string{"openssl"}, "1.0.2g-1ubuntu4.20+esm10", "1.0.2g-1ubuntu4.20+esm11", true},
		{"Ubuntu other release", ubuntu, "Ubuntu:24.04:LTS", []string{"openssl"}, "3.0.2-0ubuntu1.13", "3.0.2-0ubuntu1.14", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref, ok, err := Match(tt.adv, Target{Ecosystem: tt.ecosystem, Names: tt.names, Installed: tt.installed, Candidate: tt.candidate})
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.want {
				t.Fatalf("Match = %v, want %v", ok, tt.want)
			}
			if ok && ref.ID != tt.adv.ID {
				t.Errorf("ref.ID = %q, want %q", ref.ID, tt.adv.ID)
			}
		})
	}
}

func TestMatchRef(t *testing.T) {
	ubuntu := patchpilot.Advisory{
		ID: "CVE-2024-0727", Severity: "medium", CVSS: 5.5,
		Affected: []patchpilot.AffectedPackage{
			{Ecosystem: "Ubuntu:22.04:LTS", Name: "openssl", Severity: "low", Ranges: []patchpilot.VersionRange{{Introduced: "0", Fixed: "3.0.2-0ubuntu1.14"}}},
			{Ecosystem: "Ubuntu:22.04:LTS", Name: "nodejs", Ranges: []patchpilot.VersionRange{{Introduced: "0", Fixed: "12.22.9~dfsg-1ubuntu3.4"}}},
		},
	}
	tests := []struct {
		name  string
		names []string
		inst  string
		cand  string
		want  patchpilot.AdvisoryRef
	}{
		{"package severity wins", []string{"openssl"}, "3.0.2-0ubuntu1.13", "3.0.2-0ubuntu1.14",
			patchpilot.AdvisoryRef{ID: "CVE-2024-0727", CVEs: []string{"CVE-2024-0727"}, Severity: "low", CVSS: 5.5}},
		{"record severity otherwise", []string{"nodejs"}, "12.22.9~dfsg-1ubuntu3", "12.22.9~dfsg-1ubuntu3.4",
			patchpilot.AdvisoryRef{ID: "CVE-2024-0727", CVEs: []string{"CVE-2024-0727"}, Severity: "medium", CVSS: 5.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := Match(ubuntu, Target{Ecosystem: "Ubuntu:22.04:LTS", Names: tt.names, Installed: tt.inst, Candidate: tt.cand})
			if err != nil || !ok {
				t.Fatalf("Match = %v, %v", ok, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ref = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMatchParsedRecords(t *testing.T) {
	tests := []struct {
		file   string
		target Target
		want   bool
	}{
		{"testdata/records/almalinux/ALSA-2022-7288.json",
			Target{Ecosystem: "AlmaLinux:9", Family: patchpilot.FamilyRedHat, Names: []string{"openssl-libs", "openssl"}, Installed: "3.0.1-41.el9", Candidate: "3.0.1-43.el9_0"}, true},
		{"testdata/records/debian/DSA-5532-1.json",
			Target{Ecosystem: "Debian:12", Family: patchpilot.FamilyDebian, Names: []string{"libssl3", "openssl"}, Installed: "3.0.11-1~deb12u1", Candidate: "3.0.11-1~deb12u2"}, true},
		{"testdata/records/ubuntu/USN-6622-1.json",
			Target{Ecosystem: "Ubuntu:22.04:LTS", Names: []string{"libssl3", "openssl"}, Installed: "3.0.2-0ubuntu1.12", Candidate: "3.0.2-0ubuntu1.14"}, true},
		{"testdata/records/ubuntu/CVE-2024-0727.json",
			Target{Ecosystem: "Ubuntu:22.04:LTS", Names: []string{"nodejs"}, Installed: "12.22.9~dfsg-1ubuntu3", Candidate: "12.22.9~dfsg-1ubuntu3.6"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			adv := parseFile(t, tt.file)
			_, ok, err := Match(adv, tt.target)
			if err != nil || ok != tt.want {
				t.Errorf("Match = %v, %v; want %v", ok, err, tt.want)
			}
		})
	}
}

func TestMatchErrors(t *testing.T) {
	adv := patchpilot.Advisory{ID: "X", Affected: []patchpilot.AffectedPackage{
		{Ecosystem: "Debian:12", Name: "x", Ranges: []patchpilot.VersionRange{{Introduced: "0", Fixed: "1.0-1"}}},
	}}
	_, _, err := Match(adv, Target{Ecosystem: "Debian:12", Names: []string{"x"}, Installed: "a:b", Candidate: "1.0-1"})
	if err == nil || !strings.Contains(err.Error(), `invalid Debian version "a:b"`) {
		t.Errorf("error = %v, want an invalid version", err)
	}
	_, _, err = Match(adv, Target{Ecosystem: "Plan9:4", Names: []string{"x"}, Installed: "1", Candidate: "2"})
	if patchpilot.ErrorCode(err) != patchpilot.EUNSUPPORTED {
		t.Errorf("error = %v, want %s", err, patchpilot.EUNSUPPORTED)
	}
}

func TestSameEcosystem(t *testing.T) {
	tests := []struct {
		host, adv string
		want      bool
	}{
		{"Debian:12", "Debian:12", true},
		{"debian:12", "Debian:12", true},
		{"Debian:12", "Debian:11", false},
		{"Ubuntu:22.04:LTS", "Ubuntu:Pro:22.04:LTS", true},
		{"Ubuntu:22.04:LTS", "Ubuntu:Pro:20.04:LTS", false},
		{"AlmaLinux:9.4", "AlmaLinux:9", true},
		{"AlmaLinux:9", "AlmaLinux:8", false},
		{"Rocky Linux:9.3", "Rocky Linux:9", true},
		{"Rocky Linux:9", "AlmaLinux:9", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got := SameEcosystem(tt.host, tt.adv); got != tt.want {
			t.Errorf("SameEcosystem(%q, %q) = %v, want %v", tt.host, tt.adv, got, tt.want)
		}
	}
}
