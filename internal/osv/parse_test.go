package osv

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

func parseFile(t *testing.T, path string) patchpilot.Advisory {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	adv, err := Parse(data, filepath.Base(path))
	if err != nil {
		t.Fatalf("Parse(%s): %v", path, err)
	}
	return adv
}

func TestParseUbuntuNotice(t *testing.T) {
	adv := parseFile(t, "testdata/records/ubuntu/USN-6622-1.json")
	if adv.ID != "USN-6622-1" || adv.Source != "USN-6622-1.json" {
		t.Errorf("id, source = %q, %q", adv.ID, adv.Source)
	}
	if got, want := adv.CVEs(), []string{"CVE-2023-5678", "CVE-2024-0727"}; !reflect.DeepEqual(got, want) {
		t.Errorf("CVEs() = %v, want %v (from upstream)", got, want)
	}
	if adv.Severity != "medium" || adv.CVSS != 0 || adv.CVSSVector != "" {
		t.Errorf("severity = %q, cvss = %v %q; want the Ubuntu priority medium, no score", adv.Severity, adv.CVSS, adv.CVSSVector)
	}
	wantPub := time.Date(2024, 2, 1, 13, 10, 22, 123456000, time.UTC)
	if !adv.Published.Equal(wantPub) {
		t.Errorf("published = %v, want %v", adv.Published, wantPub)
	}
	want := []patchpilot.AffectedPackage{{
		Ecosystem: "Ubuntu:22.04:LTS",
		Name:      "openssl",
		Ranges:    []patchpilot.VersionRange{{Introduced: "0", Fixed: "3.0.2-0ubuntu1.14"}},
		Versions:  []string{"3.0.2-0ubuntu1", "3.0.2-0ubuntu1.12", "3.0.2-0ubuntu1.13"},
	}}
	if !reflect.DeepEqual(adv.Affected, want) {
		t.Errorf("affected = %+v\nwant       %+v", adv.Affected, want)
	}
}

func TestParseUbuntuCVERecord(t *testing.T) {
	adv := parseFile(t, "testdata/records/ubuntu/CVE-2024-0727.json")
	// NVD scores CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H at 5.5.
	if adv.CVSS != 5.5 || adv.Severity != "medium" {
		t.Errorf("cvss, severity = %v, %q; want 5.5, medium", adv.CVSS, adv.Severity)
	}
	if adv.CVSSVector != "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H" {
		t.Errorf("vector = %q", adv.CVSSVector)
	}
	if got := adv.CVEs(); !reflect.DeepEqual(got, []string{"CVE-2024-0727"}) {
		t.Errorf("CVEs() = %v", got)
	}
	type summary struct {
		eco, name, severity string
		ranges              []patchpilot.VersionRange
	}
	var got []summary
	for _, a := range adv.Affected {
		got = append(got, summary{a.Ecosystem, a.Name, a.Severity, a.Ranges})
	}
	want := []summary{
		{"Ubuntu:Pro:16.04:LTS", "openssl", "low", []patchpilot.VersionRange{{Introduced: "0", Fixed: "1.0.2g-1ubuntu4.20+esm11"}}},
		{"Ubuntu:Pro:16.04:LTS", "edk2", "", []patchpilot.VersionRange{{Introduced: "0"}}},
		{"Ubuntu:22.04:LTS", "openssl", "low", []patchpilot.VersionRange{{Introduced: "0", Fixed: "3.0.2-0ubuntu1.14"}}},
		{"Ubuntu:22.04:LTS", "nodejs", "", []patchpilot.VersionRange{{Introduced: "0"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("affected = %+v\nwant       %+v", got, want)
	}
}

func TestParseAlmaLinux(t *testing.T) {
	adv := parseFile(t, "testdata/records/almalinux/ALSA-2022-7288.json")
	if adv.ID != "ALSA-2022:7288" {
		t.Errorf("id = %q", adv.ID)
	}
	if adv.Severity != "high" {
		t.Errorf("severity = %q, want high from the summary's Important: prefix", adv.Severity)
	}
	if got, want := adv.CVEs(), []string{"CVE-2022-3602", "CVE-2022-3786"}; !reflect.DeepEqual(got, want) {
		t.Errorf("CVEs() = %v, want %v (from related)", got, want)
	}
	if len(adv.Affected) != 2 || adv.Affected[1].Name != "openssl-libs" ||
		!reflect.DeepEqual(adv.Affected[1].Ranges, []patchpilot.VersionRange{{Introduced: "0", Fixed: "1:3.0.1-43.el9_0"}}) {
		t.Errorf("affected = %+v", adv.Affected)
	}
}

func TestParseDebian(t *testing.T) {
	adv := parseFile(t, "testdata/records/debian/DSA-5532-1.json")
	if adv.Severity != "" || adv.CVSS != 0 {
		t.Errorf("severity, cvss = %q, %v; want none", adv.Severity, adv.CVSS)
	}
	if got, want := adv.CVEs(), []string{"CVE-2023-4807", "CVE-2023-5363"}; !reflect.DeepEqual(got, want) {
		t.Errorf("CVEs() = %v, want %v", got, want)
	}
	want := []patchpilot.AffectedPackage{
		// The GIT range is dropped: commits cannot be compared with dpkg versions.
		{Ecosystem: "Debian:12", Name: "openssl", Ranges: []patchpilot.VersionRange{{Introduced: "0", Fixed: "3.0.11-1~deb12u2"}}},
		{Ecosystem: "Debian:12", Name: "bind9", Ranges: []patchpilot.VersionRange{{Introduced: "0", Fixed: "1:9.18.24-1"}}},
	}
	if !reflect.DeepEqual(adv.Affected, want) {
		t.Errorf("affected = %+v\nwant       %+v", adv.Affected, want)
	}
}

func TestParseMalformedFiles(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"USN-1-syntax.json", []string{"USN-1-syntax.json:5:57: invalid JSON"}},
		{"missing-id.json", []string{"missing-id.json: id: required"}},
		{"USN-1.json", []string{"USN-1.json: affected[0].ranges[1].events[0]: expected one of introduced, fixed, last_affected, limit", `"patched"`}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata/malformed", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(data, tt.file)
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			if code := patchpilot.ErrorCode(err); code != patchpilot.EINVALID {
				t.Errorf("code = %q, want %q", code, patchpilot.EINVALID)
			}
			if patchpilot.ErrorHint(err) == "" {
				t.Error("error has no hint")
			}
		})
	}
}

// minimal builds a record around one affected entry.
func minimal(affected string) string {
	return `{"id": "TEST-1", "modified": "2024-01-01T00:00:00Z", "affected": [` + affected + `]}`
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"empty", ``, "t.json:1:1: invalid JSON: unexpected end of JSON input"},
		{"array", `[]`, "t.json:1:1: record: expected an object, got JSON array"},
		{"id type", "{\n  \"id\": 7}", "t.json:2:9: id: expected a string, got JSON number"},
		{"bad syntax line 3", "{\n\"id\": \"X\",\n  \"modified\" \"2024\"}", "t.json:3:14: invalid JSON: invalid character '\"' after object key"},
		{"no modified", `{"id": "X"}`, "t.json: modified: required"},
		{"bad modified", `{"id": "X", "modified": "yesterday"}`, `t.json: modified: expected an RFC 3339 time, got "yesterday"`},
		{"bad published", `{"id": "X", "modified": "2024-01-01T00:00:00Z", "published": "2024-01-01"}`, "t.json: published: expected an RFC 3339 time"},
		{"no package", minimal(`{}`), "t.json: affected[0].package: required"},
		{"no ecosystem", minimal(`{"package": {"name": "x"}}`), "t.json: affected[0].package.ecosystem: required"},
		{"no name", minimal(`{"package": {"ecosystem": "Debian:12"}}`), "t.json: affected[0].package.name: required"},
		{"range type", minimal(`{"package": {"ecosystem": "Debian:12", "name": "x"}, "ranges": [{"type": "RPM", "events": [{"introduced": "0"}]}]}`),
			`t.json: affected[0].ranges[0].type: expected one of ECOSYSTEM, SEMVER, GIT, got "RPM"`},
		{"no events", minimal(`{"package": {"ecosystem": "Debian:12", "name": "x"}, "ranges": [{"type": "ECOSYSTEM"}]}`),
			"t.json: affected[0].ranges[0].events: expected at least one event"},
		{"two keys", minimal(`{"package": {"ecosystem": "Debian:12", "name": "x"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0", "fixed": "1"}]}]}`),
			"t.json: affected[0].ranges[0].events[0]: expected one of introduced, fixed, last_affected, limit (exactly one per event), got 2 keys"},
		{"event not string", minimal(`{"package": {"ecosystem": "Debian:12", "name": "x"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": 0}]}]}`),
			"t.json: affected[0].ranges[0].events[0].introduced: expected a string, got 0"},
		{"no introduced", minimal(`{"package": {"ecosystem": "Debian:12", "name": "x"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"fixed": "1.0-1"}]}]}`),
			"t.json: affected[0].ranges[0].events: expected at least one introduced event"},
		{"bad Debian version", minimal(`{"package": {"ecosystem": "Debian:12", "name": "x"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "a:1.0"}]}]}`),
			"t.json: affected[0].ranges[0].events[1].fixed: invalid Debian version"},
		{"bad listed version", minimal(`{"package": {"ecosystem": "Debian:12", "name": "x"}, "versions": ["1.0", ""]}`),
			"t.json: affected[0].versions[1]: expected a version, got an empty string"},
		{"bad CVSS", `{"id": "X", "modified": "2024-01-01T00:00:00Z", "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L"}]}`,
			"t.json: severity[0].score: CVSS v3 vector \"CVSS:3.1/AV:N/AC:L\": base metric PR is not defined"},
		{"bad per-package CVSS", minimal(`{"package": {"ecosystem": "Debian:12", "name": "x"}, "severity": [{"type": "CVSS_V2", "score": "AV:X/AC:L/Au:N/C:P/I:P/A:P"}]}`),
			`t.json: affected[0].severity[0].score: CVSS v2 vector "AV:X/AC:L/Au:N/C:P/I:P/A:P": invalid metric value`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.data), "t.json")
			if err == nil {
				t.Fatalf("Parse succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tt.want)
			}
		})
	}
}

func TestParseRanges(t *testing.T) {
	tests := []struct {
		name, ecosystem, events string
		want                    []patchpilot.VersionRange
	}{
		{"fixed", "Debian:12", `{"introduced": "0"}, {"fixed": "1.2-1"}`,
			[]patchpilot.VersionRange{{Introduced: "0", Fixed: "1.2-1"}}},
		{"last affected", "Debian:12", `{"introduced": "1.0-1"}, {"last_affected": "1.4-2"}`,
			[]patchpilot.VersionRange{{Introduced: "1.0-1", LastAffected: "1.4-2"}}},
		{"two intervals in order", "Debian:12", `{"introduced": "1.0-1"}, {"fixed": "1.2-1"}, {"introduced": "2.0-1"}, {"fixed": "2.3-1"}`,
			[]patchpilot.VersionRange{{Introduced: "1.0-1", Fixed: "1.2-1"}, {Introduced: "2.0-1", Fixed: "2.3-1"}}},
		{"open", "Debian:12", `{"introduced": "0"}`,
			[]patchpilot.VersionRange{{Introduced: "0"}}},
		{"limit closes open interval", "Debian:12", `{"introduced": "1.0-1"}, {"limit": "2.0-1"}`,
			[]patchpilot.VersionRange{{Introduced: "1.0-1", Fixed: "2.0-1"}}},
		{"limit lowers fix", "Debian:12", `{"introduced": "0"}, {"fixed": "3.0-1"}, {"limit": "2.0-1"}`,
			[]patchpilot.VersionRange{{Introduced: "0", Fixed: "2.0-1"}}},
		{"limit above fix", "Debian:12", `{"introduced": "0"}, {"fixed": "1.5-1"}, {"limit": "2.0-1"}`,
			[]patchpilot.VersionRange{{Introduced: "0", Fixed: "1.5-1"}}},
		{"limit drops interval above it", "Debian:12", `{"introduced": "0"}, {"fixed": "1.5-1"}, {"introduced": "3.0-1"}, {"limit": "2.0-1"}`,
			[]patchpilot.VersionRange{{Introduced: "0", Fixed: "1.5-1"}}},
		{"highest limit counts", "AlmaLinux:9", `{"introduced": "0"}, {"limit": "1:1.0-1"}, {"limit": "1:0.5-1"}`,
			[]patchpilot.VersionRange{{Introduced: "0", Fixed: "1:1.0-1"}}},
		{"limit replaces higher last_affected", "Debian:12", `{"introduced": "0"}, {"last_affected": "2.0-1"}, {"limit": "2.0-1"}`,
			[]patchpilot.VersionRange{{Introduced: "0", Fixed: "2.0-1"}}},
		{"infinite limit", "Debian:12", `{"introduced": "0"}, {"limit": "*"}`,
			[]patchpilot.VersionRange{{Introduced: "0"}}},
		{"closing event without interval", "Debian:12", `{"fixed": "0.5-1"}, {"introduced": "1.0-1"}`,
			[]patchpilot.VersionRange{{Introduced: "1.0-1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := minimal(`{"package": {"ecosystem": "` + tt.ecosystem + `", "name": "x"}, "ranges": [{"type": "ECOSYSTEM", "events": [` + tt.events + `]}]}`)
			adv, err := Parse([]byte(data), "t.json")
			if err != nil {
				t.Fatal(err)
			}
			if got := adv.Affected[0].Ranges; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ranges = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseSeverity(t *testing.T) {
	tests := []struct {
		name, data  string
		severity    string
		cvss        float64
		vector      string
		pkgSeverity string
	}{
		{"v3 over v2", `{"id": "X", "modified": "2024-01-01T00:00:00Z", "severity": [
			{"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:P/A:P"},
			{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}`,
			"critical", 9.8, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", ""},
		{"v2 alone", `{"id": "X", "modified": "2024-01-01T00:00:00Z", "severity": [{"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:P/A:P"}]}`,
			"high", 7.5, "AV:N/AC:L/Au:N/C:P/I:P/A:P", ""},
		{"v4", `{"id": "X", "modified": "2024-01-01T00:00:00Z", "severity": [{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}]}`,
			"critical", 9.3, "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", ""},
		{"score wins over Ubuntu word at record level", `{"id": "X", "modified": "2024-01-01T00:00:00Z", "severity": [
			{"type": "Ubuntu", "score": "negligible"},
			{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"}]}`,
			"medium", 6.1, "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", ""},
		{"negligible is low", `{"id": "X", "modified": "2024-01-01T00:00:00Z", "severity": [{"type": "Ubuntu", "score": "negligible"}]}`,
			"low", 0, "", ""},
		{"unknown type ignored", `{"id": "X", "modified": "2024-01-01T00:00:00Z", "severity": [{"type": "FANCY", "score": "9"}]}`,
			"", 0, "", ""},
		{"moderate summary prefix", `{"id": "X", "modified": "2024-01-01T00:00:00Z", "summary": "Moderate: curl security update"}`,
			"medium", 0, "", ""},
		{"summary prefix that is no word", `{"id": "X", "modified": "2024-01-01T00:00:00Z", "summary": "CVE-2024-1: curl"}`,
			"", 0, "", ""},
		{"database_specific severity", `{"id": "X", "modified": "2024-01-01T00:00:00Z", "database_specific": {"severity": "CRITICAL"}}`,
			"critical", 0, "", ""},
		{"per-package vector stands for the record", minimal(`{"package": {"ecosystem": "Debian:12", "name": "x"},
			"severity": [{"type": "CVSS_V3", "score": "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}]}`),
			"high", 7.5, "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", "high"},
		{"per-package database_specific priority", minimal(`{"package": {"ecosystem": "Debian:12", "name": "x"}, "database_specific": {"urgency": "unimportant"}}`),
			"", 0, "", "low"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			adv, err := Parse([]byte(tt.data), "t.json")
			if err != nil {
				t.Fatal(err)
			}
			if adv.Severity != tt.severity || adv.CVSS != tt.cvss || adv.CVSSVector != tt.vector {
				t.Errorf("got %q %v %q, want %q %v %q", adv.Severity, adv.CVSS, adv.CVSSVector, tt.severity, tt.cvss, tt.vector)
			}
			if len(adv.Affected) > 0 && adv.Affected[0].Severity != tt.pkgSeverity {
				t.Errorf("package severity = %q, want %q", adv.Affected[0].Severity, tt.pkgSeverity)
			}
		})
	}
}

func TestParseWithdrawn(t *testing.T) {
	data := `{"id": "X", "modified": "2024-01-01T00:00:00Z", "withdrawn": "2024-02-01T00:00:00Z",
		"affected": [{"package": {"ecosystem": "Debian:12", "name": "x"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}]}`
	adv, err := Parse([]byte(data), "t.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(adv.Affected) != 0 {
		t.Errorf("withdrawn record affects %+v, want nothing", adv.Affected)
	}
}
