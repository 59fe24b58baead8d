package seed

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/patchpilot/patchpilot"
)

// distro is one distribution release of the fleet, with the packages its
// hosts may install.
type distro struct {
	family    patchpilot.OSFamily
	name      string // os-release ID
	version   string
	pretty    string
	codename  string
	ecosystem string // OSV ecosystem, as Facts.Ecosystem names it
	origin    string // where security updates come from
	kernel    string
	packages  []pkg
}

// pkg is one package of a distribution: the version most hosts had, the
// candidate that fixes it, and the advisories the candidate fixes.
type pkg struct {
	name       string
	source     string
	old, fixed string
	advisories []patchpilot.Advisory
	kernel     bool // needs a reboot
	service    string
}

// severities are the advisory severities with their shares, in percent,
// and a typical CVSS base score.
var severities = []struct {
	word  string
	share int
	cvss  float64
}{{"critical", 8, 9.8}, {"high", 27, 7.5}, {"medium", 45, 5.3}, {"low", 20, 3.1}}

// basePackages are names real servers install; the rest of a distribution's
// packages are made up around them.
var basePackages = []string{"openssl", "libssl3", "openssh-server", "openssh-client", "bash", "coreutils", "curl",
	"libcurl4", "systemd", "libsystemd0", "glibc", "libc6", "sudo", "tzdata", "ca-certificates", "nginx", "postgresql-15",
	"redis-server", "python3", "python3-minimal", "perl", "git", "vim", "rsync", "tar", "gzip", "xz-utils", "zlib1g",
	"libxml2", "libexpat1", "libgnutls30", "krb5-libs", "libkrb5-3", "bind9-libs", "dnsutils", "linux-image",
	"kernel-core", "firmware", "iptables", "nftables", "chrony", "rsyslog", "logrotate", "cron", "dbus", "polkit",
	"libpam0g", "pam", "shadow-utils", "util-linux", "e2fsprogs", "lvm2", "openldap", "libldap-2.5-0", "sqlite3",
	"libsqlite3-0", "pcre2", "libpcre2-8-0", "expat", "libtiff6", "libpng16-16", "libjpeg62-turbo", "freetype",
	"fontconfig", "libx11-6", "java-17-openjdk", "nodejs", "golang", "docker-ce", "containerd.io", "runc"}

// services maps packages to the services that must restart after them.
var services = map[string]string{"openssh-server": "ssh.service", "nginx": "nginx.service",
	"postgresql-15": "postgresql.service", "redis-server": "redis-server.service", "chrony": "chrony.service",
	"rsyslog": "rsyslog.service", "cron": "cron.service", "dbus": "dbus.service", "docker-ce": "docker.service",
	"containerd.io": "containerd.service"}

// newDistros builds the fleet's distributions, each with perDistro
// packages, of which about a third have pending fixes with advisories.
func newDistros(rng *rand.Rand, perDistro int, published time.Time, span time.Duration) []*distro {
	ds := []*distro{
		{family: patchpilot.FamilyDebian, name: "debian", version: "12", pretty: "Debian GNU/Linux 12 (bookworm)",
			codename: "bookworm", origin: "Debian-Security:12/stable-security", kernel: "6.1.0-%d-amd64"},
		{family: patchpilot.FamilyDebian, name: "ubuntu", version: "22.04", pretty: "Ubuntu 22.04.4 LTS",
			codename: "jammy", origin: "Ubuntu:22.04/jammy-security", kernel: "5.15.0-%d-generic"},
		{family: patchpilot.FamilyRedHat, name: "rocky", version: "9.4", pretty: "Rocky Linux 9.4 (Blue Onyx)",
			origin: "baseos", kernel: "5.14.0-%d.el9_4.x86_64"},
	}
	advisoryN := 0
	for _, d := range ds {
		d.ecosystem = patchpilot.Facts{OSName: d.name, OSVersion: d.version, OSPretty: d.pretty}.Ecosystem()
		for i := range perDistro {
			name := ""
			if i < len(basePackages) {
				name = basePackages[i]
			} else {
				name = fmt.Sprintf("lib%s%d", []string{"foo", "bar", "net", "crypt", "media", "data", "text"}[i%7], i)
			}
			major, minor, patch, rel := 1+rng.IntN(4), rng.IntN(20), rng.IntN(30), 1+rng.IntN(5)
			p := pkg{name: name, source: name, service: services[name],
				kernel: name == "linux-image" || name == "kernel-core" || name == "glibc" || name == "libc6" || name == "systemd"}
			if name == "libssl3" {
				p.source = "openssl"
			}
			if d.family == patchpilot.FamilyRedHat {
				p.old = fmt.Sprintf("%d.%d.%d-%d.el9", major, minor, patch, rel)
				p.fixed = fmt.Sprintf("%d.%d.%d-%d.el9_4", major, minor, patch, rel+1)
			} else {
				p.old = fmt.Sprintf("%d.%d.%d-%d", major, minor, patch, rel)
				p.fixed = fmt.Sprintf("%d.%d.%d-%d+deb12u1", major, minor, patch, rel)
				if d.name == "ubuntu" {
					p.fixed = fmt.Sprintf("%d.%d.%d-%dubuntu0.1", major, minor, patch, rel)
				}
			}
			// About a third of the packages have fixes with advisories;
			// another sixth have plain (non-security) updates.
			if rng.IntN(3) == 0 {
				for range 1 + rng.IntN(3) {
					advisoryN++
					p.advisories = append(p.advisories, newAdvisory(rng, d, p, advisoryN, published, span))
				}
			}
			d.packages = append(d.packages, p)
		}
	}
	return ds
}

// newAdvisory makes the n-th advisory, fixing p in d at p.fixed.
func newAdvisory(rng *rand.Rand, d *distro, p pkg, n int, published time.Time, span time.Duration) patchpilot.Advisory {
	roll, sev := rng.IntN(100), severities[len(severities)-1]
	for _, s := range severities {
		if roll < s.share {
			sev = s
			break
		}
		roll -= s.share
	}
	id := fmt.Sprintf("DSA-%04d-1", 5000+n)
	switch d.name {
	case "ubuntu":
		id = fmt.Sprintf("USN-%04d-1", 6000+n)
	case "rocky":
		id = fmt.Sprintf("RLSA-2026:%04d", n)
	}
	var aliases []string
	for k := range 1 + rng.IntN(3) {
		aliases = append(aliases, fmt.Sprintf("CVE-2026-%05d", 10000+n*4+k))
	}
	at := published.Add(time.Duration(rng.Int64N(int64(span))))
	name := p.source
	if d.family == patchpilot.FamilyRedHat {
		name = p.name
	}
	return patchpilot.Advisory{
		ID: id, Aliases: aliases, Summary: fmt.Sprintf("%s: %s severity issues fixed", p.name, sev.word),
		Published: at, Modified: at.Add(time.Hour), Severity: sev.word, CVSS: sev.cvss,
		Affected: []patchpilot.AffectedPackage{{Ecosystem: d.ecosystem, Name: name,
			Ranges: []patchpilot.VersionRange{{Introduced: "0", Fixed: p.fixed}}}},
		Source: "seed",
	}
}

// ref is the advisory as a pending update names it.
func ref(a patchpilot.Advisory) patchpilot.AdvisoryRef {
	return patchpilot.AdvisoryRef{ID: a.ID, CVEs: a.CVEs(), Severity: a.Severity, CVSS: a.CVSS}
}

// host is one seeded host with what it runs.
type host struct {
	patchpilot.Host
	distro   *distro
	packages []int // indexes into distro.packages, installed
	pending  []int // indexes of installed packages with a pending update, in order of appearance
	bootID   string
	kernelN  int
	// reboot and restart: the host says it needs a reboot, or that
	// services need a restart, after updates installed earlier.
	reboot  bool
	restart bool
}

var (
	envs = []struct {
		name, short string
		share       int
	}{{"prod", "p", 60}, {"staging", "s", 25}, {"dev", "d", 15}}
	roles         = []string{"web", "api", "db", "cache", "worker", "lb", "batch", "mq"}
	criticalities = []string{"low", "medium", "medium", "high", "high", "critical"}
	regions       = []string{"eu-west", "eu-central", "us-east", "us-west", "ap-south"}
)

// newHosts makes n hosts spread over the distributions, environments and
// roles, each installing 50 to 100 packages with 5 to 30 of them pending.
func newHosts(rng *rand.Rand, n int, ds []*distro) []*host {
	out := make([]*host, 0, n)
	for i := range n {
		roll, env := rng.IntN(100), envs[len(envs)-1]
		for _, e := range envs {
			if roll < e.share {
				env = e
				break
			}
			roll -= e.share
		}
		role := roles[rng.IntN(len(roles))]
		d := ds[0]
		switch r := rng.IntN(10); {
		case r >= 8:
			d = ds[2]
		case r >= 5:
			d = ds[1]
		}
		region := regions[rng.IntN(len(regions))]
		name := fmt.Sprintf("%s-%s-%05d", role, env.short, i+1)
		h := &host{distro: d, kernelN: 10 + rng.IntN(20), reboot: rng.IntN(8) == 0, restart: rng.IntN(4) == 0}
		h.Host = patchpilot.Host{Name: name, Address: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
			User: "patchpilot", Become: true, Groups: []string{role, env.name, region},
			Labels: map[string]string{patchpilot.LabelEnv: env.name, patchpilot.LabelRole: role,
				patchpilot.LabelCriticality: criticalities[rng.IntN(len(criticalities))], patchpilot.LabelGroup: region},
			Source: "seed"}
		h.bootID = fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", rng.Uint32(), rng.IntN(1<<16), rng.IntN(1<<12), rng.IntN(1<<12), rng.Int64N(1<<48))
		// The first packages are on every host; the rest at random.
		count := 50 + rng.IntN(51)
		count = min(count, len(d.packages))
		perm := rng.Perm(len(d.packages) - 20)
		for k := range 20 {
			h.packages = append(h.packages, k)
		}
		for _, k := range perm[:count-20] {
			h.packages = append(h.packages, k+20)
		}
		want := 5 + rng.IntN(26)
		for _, k := range rng.Perm(len(h.packages)) {
			if len(h.pending) == want {
				break
			}
			p := d.packages[h.packages[k]]
			// Packages with advisories are pending more often than
			// others, as security fixes are what a fleet waits for.
			if len(p.advisories) > 0 || rng.IntN(3) == 0 {
				h.pending = append(h.pending, h.packages[k])
			}
		}
		out = append(out, h)
	}
	return out
}

// facts is the host's snapshot at at, with the first upto of its pending
// updates listed (updates appear over time).
func (h *host) facts(at time.Time, upto int) patchpilot.Facts {
	d := h.distro
	f := patchpilot.Facts{Host: h.Name, CollectedAt: at, Source: "ssh", Hostname: h.Name, OSFamily: d.family,
		OSName: d.name, OSVersion: d.version, OSPretty: d.pretty, OSCodename: d.codename,
		Kernel: fmt.Sprintf(d.kernel, h.kernelN), Arch: "x86_64", BootID: h.bootID,
		PackagesKnown: true, UpdatesKnown: true}
	pending := map[int]bool{}
	for _, k := range h.pending[:min(upto, len(h.pending))] {
		pending[k] = true
	}
	arch := "amd64"
	if d.family == patchpilot.FamilyRedHat {
		arch = "x86_64"
	}
	for _, k := range h.packages {
		p := d.packages[k]
		f.Packages = append(f.Packages, patchpilot.Package{Name: p.name, Version: p.old, Arch: arch,
			SourceName: p.source, SourceVersion: p.old})
	}
	restart := map[string]bool{}
	for _, k := range h.pending[:min(upto, len(h.pending))] {
		p := d.packages[k]
		u := patchpilot.Update{Package: p.name, Arch: arch, SourcePackage: p.source, InstalledVersion: p.old,
			CandidateVersion: p.fixed, Origin: d.codename + "-updates", Security: len(p.advisories) > 0}
		if u.Security {
			u.Origin = d.origin
		}
		// dnf names the advisories itself; apt does not, and OSV
		// matching adds them when updates are listed.
		if d.family == patchpilot.FamilyRedHat {
			for _, a := range p.advisories {
				u.Advisories = append(u.Advisories, ref(a))
			}
		}
		f.Updates = append(f.Updates, u)
	}
	for _, k := range h.packages {
		p := d.packages[k]
		if h.reboot && p.kernel {
			f.RebootRequired = true
			f.RebootPackages = append(f.RebootPackages, p.name)
		}
		if h.restart && p.service != "" && !restart[p.service] {
			restart[p.service] = true
			f.NeedsRestart = append(f.NeedsRestart, p.service)
		}
	}
	f.Services = []string{"ssh.service", "cron.service", "rsyslog.service", "chrony.service"}
	for _, k := range h.packages {
		if s := d.packages[k].service; s != "" && s != "ssh.service" && s != "cron.service" &&
			s != "rsyslog.service" && s != "chrony.service" {
			f.Services = append(f.Services, s)
		}
	}
	return f
}
