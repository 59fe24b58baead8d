package osfamily

import (
	"testing"

	"github.com/patchpilot/patchpilot"
)

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		family patchpilot.OSFamily
		a, b   string
		want   int
	}{
		{patchpilot.FamilyDebian, "3.0.15-1~deb12u1", "3.0.15-1", -1},
		{patchpilot.FamilyDebian, "1:1.0", "2.0", 1},
		{patchpilot.FamilyDebian, "1.0.0", "1.0.0", 0},
		{patchpilot.FamilyDebian, "1.1.10", "1.1.9", 1},
		{patchpilot.FamilyRedHat, "1:3.0.1-43.el9_0", "3.0.7-27.el9", 1},
		{patchpilot.FamilyRedHat, "3.0.7-27.el9", "3.0.7-28.el9", -1},
		{patchpilot.FamilySUSE, "1.2.3-150400.1", "1.2.3-150400.1", 0},
	}
	for _, tt := range tests {
		got, err := CompareVersions(tt.family, tt.a, tt.b)
		if err != nil {
			t.Fatalf("CompareVersions(%s, %q, %q): %v", tt.family, tt.a, tt.b, err)
		}
		if got != tt.want {
			t.Errorf("CompareVersions(%s, %q, %q) = %d, want %d", tt.family, tt.a, tt.b, got, tt.want)
		}
	}
	if _, err := CompareVersions(patchpilot.FamilyDebian, "not a version!", "1"); err == nil {
		t.Error("invalid Debian version: want error")
	}
	if _, err := CompareVersions(patchpilot.FamilyUnknown, "1", "2"); err == nil {
		t.Error("unknown family: want error")
	}
}

func TestFromOSRelease(t *testing.T) {
	tests := []struct {
		id   string
		like []string
		want patchpilot.OSFamily
	}{
		{"debian", nil, patchpilot.FamilyDebian},
		{"ubuntu", []string{"debian"}, patchpilot.FamilyDebian},
		{"rocky", []string{"rhel", "centos", "fedora"}, patchpilot.FamilyRedHat},
		{"almalinux", nil, patchpilot.FamilyRedHat},
		{"opensuse-leap", []string{"suse", "opensuse"}, patchpilot.FamilySUSE},
		{"weird", []string{"fedora"}, patchpilot.FamilyRedHat},
		{"plan9", nil, patchpilot.FamilyUnknown},
	}
	for _, tt := range tests {
		if got := FromOSRelease(tt.id, tt.like); got != tt.want {
			t.Errorf("FromOSRelease(%q, %v) = %s, want %s", tt.id, tt.like, got, tt.want)
		}
	}
}
