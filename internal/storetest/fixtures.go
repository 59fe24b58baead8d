package storetest

import (
	"fmt"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Facts returns a Debian 12 snapshot of host with n packages and u pending
// updates, every third of which is a security update naming an advisory.
// Benchmarks of implementations use it too.
func Facts(host string, at time.Time, n, u int) patchpilot.Facts {
	f := patchpilot.Facts{
		Host:          host,
		CollectedAt:   at,
		Source:        "ssh",
		Hostname:      host + ".example.internal",
		OSFamily:      patchpilot.FamilyDebian,
		OSName:        "debian",
		OSVersion:     "12",
		OSPretty:      "Debian GNU/Linux 12 (bookworm)",
		OSCodename:    "bookworm",
		Kernel:        "6.1.0-18-amd64",
		Arch:          "x86_64",
		BootID:        "6f1c2a9e-0d7b-4a57-9a65-" + fmt.Sprintf("%012d", at.Unix()%1e12),
		PackagesKnown: true,
		UpdatesKnown:  true,
	}
	for i := range n {
		f.Packages = append(f.Packages, patchpilot.Package{
			Name:          fmt.Sprintf("pkg%04d", i),
			Version:       fmt.Sprintf("1.%d.0-1+deb12u1", i),
			Arch:          "amd64",
			SourceName:    fmt.Sprintf("src%04d", i/3),
			SourceVersion: fmt.Sprintf("1.%d.0-1+deb12u1", i),
		})
	}
	for i := range u {
		up := patchpilot.Update{
			Package:          fmt.Sprintf("pkg%04d", i),
			Arch:             "amd64",
			SourcePackage:    fmt.Sprintf("src%04d", i/3),
			InstalledVersion: fmt.Sprintf("1.%d.0-1+deb12u1", i),
			CandidateVersion: fmt.Sprintf("1.%d.0-1+deb12u2", i),
			Origin:           "Debian:12/stable",
		}
		if i%3 == 0 {
			up.Security = true
			up.Origin = "Debian-Security:12/stable-security"
			up.Advisories = []patchpilot.AdvisoryRef{{
				ID: fmt.Sprintf("DSA-%d-1", 5000+i), CVEs: []string{fmt.Sprintf("CVE-2026-%04d", 1000+i)},
				Severity: "high", CVSS: 7.5,
			}}
		}
		f.Updates = append(f.Updates, up)
	}
	return f
}

// richFacts is a snapshot with every field set, including the awkward
// cases: two installed versions of one package, a package with a status, an
// update that installs a new package, an advisory without CVEs.
func richFacts(host string, at time.Time) patchpilot.Facts {
	f := Facts(host, at, 5, 0)
	f.Services = []string{"nginx.service", "sshd.service"}
	f.NeedsRestart = []string{"nginx"}
	f.RebootRequired = true
	f.RebootPackages = []string{"linux-image-6.1.0-20-amd64"}
	f.Packages = append(f.Packages,
		patchpilot.Package{Name: "linux-image-6.1.0-18-amd64", Version: "6.1.76-1", Arch: "amd64",
			SourceName: "linux-signed-amd64", SourceVersion: "6.1.76+1"},
		patchpilot.Package{Name: "linux-image-6.1.0-18-amd64", Version: "6.1.69-1", Arch: "amd64",
			SourceName: "linux-signed-amd64", SourceVersion: "6.1.69+1"},
		patchpilot.Package{Name: "broken", Version: "0.1", Status: "half-configured"},
		patchpilot.Package{Name: "unicode-ü", Version: "1:2.0~rc1-3"},
	)
	f.Updates = []patchpilot.Update{
		{Package: "openssl", Arch: "amd64", SourcePackage: "openssl", InstalledVersion: "3.0.11-1~deb12u2",
			CandidateVersion: "3.0.13-1~deb12u1", Origin: "Debian-Security:12/stable-security", Security: true,
			Advisories: []patchpilot.AdvisoryRef{
				{ID: "DSA-5678-1", CVEs: []string{"CVE-2024-0727", "CVE-2023-6237"}, Severity: "high", CVSS: 5.5},
				{ID: "DLA-0001-1", CVEs: []string{}, Severity: "low"},
				{ID: "DLA-0002-1"},
			}},
		{Package: "linux-image-6.1.0-20-amd64", Arch: "amd64", SourcePackage: "linux-signed-amd64",
			InstalledVersion: "", CandidateVersion: "6.1.85-1", Origin: "Debian:12/stable"},
	}
	f.Depth = depthFixture()
	return f
}

// depthFixture is a host's depth with every part set: a service with its
// sockets and libraries, a listener on every address, connections both
// ways, a modified conffile and a missing file, held, pinned and foreign
// packages, and a part that could not be read.
func depthFixture() *patchpilot.HostDepth {
	return &patchpilot.HostDepth{
		Services: []patchpilot.ServiceDetail{{
			Unit: "nginx.service", MainPID: 812, Exe: "/usr/sbin/nginx", Package: "nginx-core",
			Version: "1.22.1-9", Listens: []patchpilot.Socket{{Port: 80}, {Address: "::", Port: 443}},
			Libraries: []string{"libc6", "libssl3", "nginx-core"},
		}},
		Listeners: []patchpilot.Socket{{Port: 80}, {Address: "::", Port: 443}, {Address: "127.0.0.1", Port: 9100}},
		Connections: []patchpilot.Connection{
			{Direction: patchpilot.DirectionOut, Service: "nginx.service", Process: "nginx", Local: "10.0.0.5",
				Peer: "10.0.0.9", Port: 5432},
			{Direction: patchpilot.DirectionIn, Service: "nginx.service", Process: "nginx", Local: "10.0.0.5",
				Peer: "10.0.0.7", Port: 443},
		},
		Addresses: []string{"10.0.0.5", "fd00::5"},
		Modified: []patchpilot.ModifiedFile{
			{Package: "nginx-common", Path: "/etc/nginx/nginx.conf", Conffile: true, Checks: "??5??????"},
			{Package: "libc6", Path: "/usr/share/doc/libc6/README", Missing: true},
		},
		Held:    []string{"nginx-core"},
		Pinned:  []string{"openssl"},
		Foreign: []patchpilot.ForeignPackage{{Name: "acme-agent", Version: "2.1", Relation: patchpilot.ForeignNoCandidate}},
		Missing: []string{"libraries: /proc/812/maps is not readable"},
	}
}
