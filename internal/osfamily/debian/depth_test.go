package debian

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
)

// TestParseDebian12LabDepthClient parses the transcript of a lab host in
// depth (debian12-lab-depth, see testdata/README.md): lab01 runs a client
// (pp-dep-client.service) that keeps an HTTP connection to lab02's
// pp-demo-web, has a conffile edited and one deleted, pp-libdemo held and
// pp-demo-web pinned. Its network namespace is the machine's, so ss lists
// every lab's sockets: only lab01's are kept.
func TestParseDebian12LabDepthClient(t *testing.T) {
	f := parseDir(t, "debian12-lab-depth")
	d := f.Depth
	if d == nil {
		t.Fatal("no depth")
	}
	if len(d.Missing) != 0 {
		t.Errorf("missing %q, want nothing (collected as root)", d.Missing)
	}
	byUnit := map[string]patchpilot.ServiceDetail{}
	for _, s := range d.Services {
		byUnit[s.Unit] = s
	}
	units := slices.Collect(func(yield func(string) bool) {
		for _, s := range d.Services {
			if !yield(s.Unit) {
				return
			}
		}
	})
	if !slices.IsSorted(units) || len(units) != 8 {
		t.Errorf("services %v, want the 8 running units, sorted", units)
	}
	if !slices.Equal(f.Services, units) {
		t.Errorf("Facts.Services %v, want the depth step's units %v", f.Services, units)
	}
	ssh := byUnit["ssh.service"]
	if ssh.Exe != "/usr/sbin/sshd" || ssh.Package != "openssh-server" || ssh.Version != "1:9.2p1-2+deb12u10" || ssh.MainPID != 46 {
		t.Errorf("ssh.service: %+v", ssh)
	}
	// The maps show /usr/lib/x86_64-linux-gnu/libc.so.6; libc6 lists it
	// as /lib/...: merged /usr must still resolve it.
	for _, lib := range []string{"libc6", "libssl3", "openssh-server", "zlib1g"} {
		if !slices.Contains(ssh.Libraries, lib) {
			t.Errorf("ssh.service libraries %v lack %s", ssh.Libraries, lib)
		}
	}
	if !slices.Equal(ssh.Listens, []patchpilot.Socket{{Address: "127.0.77.1", Port: 22}}) {
		t.Errorf("ssh.service listens on %v, want 127.0.77.1:22", ssh.Listens)
	}
	web := byUnit["pp-demo-web.service"]
	if web.Package != "pp-demo-web" || web.Version != "1.0.0" || !slices.Equal(web.Listens, []patchpilot.Socket{{Address: "127.0.77.1", Port: 8080}}) {
		t.Errorf("pp-demo-web.service: %+v", web)
	}
	if client := byUnit["pp-dep-client.service"]; client.Package != "python3.11-minimal" || !slices.Contains(client.Libraries, "libpython3.11-minimal") {
		t.Errorf("pp-dep-client.service: %+v", client)
	}
	wantL := []patchpilot.Socket{{Address: "127.0.77.1", Port: 22}, {Address: "127.0.77.1", Port: 8080}, {Address: "127.0.77.1", Port: 9100}}
	if !slices.Equal(d.Listeners, wantL) {
		t.Errorf("listeners %v, want lab01's own %v", d.Listeners, wantL)
	}
	wantC := []patchpilot.Connection{
		{Direction: "in", Service: "ssh.service", Process: "sshd", Local: "127.0.77.1", Peer: "127.0.0.1", Port: 22},
		{Direction: "out", Service: "pp-dep-client.service", Process: "python3", Local: "127.0.0.1", Peer: "127.0.77.2", Port: 8080},
	}
	if !slices.Equal(d.Connections, wantC) {
		t.Errorf("connections %+v, want %+v", d.Connections, wantC)
	}
	if !slices.Contains(d.Addresses, "127.0.77.1") || slices.Contains(d.Addresses, "127.0.77.2") || slices.Contains(d.Addresses, "127.0.0.1") {
		t.Errorf("addresses %v, want lab01's 127.0.77.1 and neither lab02's nor 127.0.0.1", d.Addresses)
	}
	wantM := []patchpilot.ModifiedFile{
		{Package: "base-files", Path: "/etc/issue.net", Conffile: true, Missing: true},
		{Package: "openssh-server", Path: "/etc/default/ssh", Conffile: true, Checks: "??5??????"},
		{Package: "prometheus-node-exporter", Path: "/etc/default/prometheus-node-exporter", Conffile: true, Checks: "??5??????"},
	}
	if !slices.Equal(d.Modified, wantM) {
		t.Errorf("modified %+v, want %+v", d.Modified, wantM)
	}
	if !slices.Equal(d.Held, []string{"pp-libdemo"}) || !slices.Equal(d.Pinned, []string{"pp-demo-web"}) {
		t.Errorf("held %v, pinned %v; want [pp-libdemo], [pp-demo-web]", d.Held, d.Pinned)
	}
	// The lab's only repository is its own: every Debian package on it
	// is foreign, the pp-* packages are not.
	foreign := map[string]patchpilot.ForeignPackage{}
	for _, fp := range d.Foreign {
		foreign[fp.Name] = fp
	}
	if fp := foreign["adduser"]; fp.Version != "3.134" || fp.Relation != patchpilot.ForeignNoCandidate {
		t.Errorf("adduser: %+v, want 3.134 with no candidate", fp)
	}
	for name := range foreign {
		if strings.HasPrefix(name, "pp-") {
			t.Errorf("%s is foreign; the lab repository offers it", name)
		}
	}
	if len(d.Foreign) != 162 {
		t.Errorf("%d foreign packages, want the 162 apt lists as local", len(d.Foreign))
	}
}

// TestParseDebian12LabDepthProvider parses lab02's side of the same
// connection: pp-demo-web accepted it on its port. The file of
// libcrypto.so.3 had been replaced on lab02 as dpkg does: the depth step
// finds the services still mapping the deleted file, as the
// needs-restart step would.
func TestParseDebian12LabDepthProvider(t *testing.T) {
	f := parseDir(t, "debian12-lab-depth-provider")
	wantR := []string{"ssh.service", "systemd-journald.service", "systemd-logind.service"}
	if !slices.Equal(f.NeedsRestart, wantR) {
		t.Errorf("needs restart %v, want %v", f.NeedsRestart, wantR)
	}
	if f := parseDir(t, "debian12-lab-depth"); len(f.NeedsRestart) != 0 {
		t.Errorf("no replaced library: needs restart %v, want none", f.NeedsRestart)
	}
	d := f.Depth
	want := patchpilot.Connection{Direction: "in", Service: "pp-demo-web.service", Process: "pp-demo-web", Local: "127.0.77.2", Peer: "127.0.0.1", Port: 8080}
	if d == nil || !slices.Contains(d.Connections, want) {
		t.Fatalf("connections %+v, want %+v", d, want)
	}
	if len(d.Held) != 0 || len(d.Pinned) != 0 {
		t.Errorf("held %v, pinned %v; want none", d.Held, d.Pinned)
	}
}

// TestParseDpkgVerifyLabCapture parses "dpkg --verify" as a lab host
// printed it with two conffiles edited and one removed.
func TestParseDpkgVerifyLabCapture(t *testing.T) {
	data, err := os.ReadFile("testdata/dpkg-verify/debian12-lab.out")
	if err != nil {
		t.Fatal(err)
	}
	mods, err := ParseDpkgVerify(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []patchpilot.ModifiedFile{
		{Path: "/etc/default/ssh", Conffile: true, Checks: "??5??????"},
		{Path: "/etc/default/prometheus-node-exporter", Conffile: true, Checks: "??5??????"},
		{Path: "/etc/issue.net", Conffile: true, Missing: true},
	}
	if !slices.Equal(mods, want) {
		t.Errorf("got %+v, want %+v", mods, want)
	}
	mods, err = ParseDpkgVerify([]byte("??5??????   /usr/bin/tool with space\n"))
	if err != nil || len(mods) != 1 || mods[0].Conffile || mods[0].Path != "/usr/bin/tool with space" {
		t.Errorf("a plain file: got %+v, %v", mods, err)
	}
	if _, err := ParseDpkgVerify([]byte("??5?????? c /etc/a\nbogus\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a bad line: got %v, want an error naming line 2", err)
	}
}

// TestAptPolicyForeign classifies local and pinned packages by the
// version tables of apt-cache policy, in the layout of the lab capture's
// blocks (debian12-lab-depth has the pinned pp-demo-web and only
// packages with no candidate).
func TestAptPolicyForeign(t *testing.T) {
	secs := osfamily.Sections([]byte(`== policy
nginx:
  Installed: 1.22.1-9
  Candidate: 1.22.1-9
  Version table:
     1.22.1-9+deb12u1 500
        500 http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
 *** 1.22.1-9 1001
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
        100 /var/lib/dpkg/status
libfoo:amd64:
  Installed: 2.0
  Candidate: 2.0
  Version table:
 *** 2.0 990
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
        100 /var/lib/dpkg/status
mytool:
  Installed: 2.1-1
  Candidate: 2.1-1
  Version table:
 *** 2.1-1 100
        100 /var/lib/dpkg/status
     2.0-1 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
oldlib:
  Installed: 1.0-1
  Candidate: 1.2-1
  Version table:
     1.2-1 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
 *** 1.0-1 100
        100 /var/lib/dpkg/status
homegrown:
  Installed: 0.1
  Candidate: 0.1
  Version table:
 *** 0.1 100
        100 /var/lib/dpkg/status
`))
	p := ParseAptPolicy(secs)
	if !slices.Equal(p.Pinned, []string{"libfoo", "nginx"}) {
		t.Errorf("pinned %v, want [libfoo nginx]", p.Pinned)
	}
	want := []patchpilot.ForeignPackage{
		{Name: "homegrown", Version: "0.1", Relation: patchpilot.ForeignNoCandidate},
		{Name: "mytool", Version: "2.1-1", Candidate: "2.0-1", Relation: patchpilot.ForeignNewer},
		{Name: "oldlib", Version: "1.0-1", Candidate: "1.2-1", Relation: patchpilot.ForeignOlder},
	}
	if got := p.Foreign(); !slices.Equal(got, want) {
		t.Errorf("foreign %+v, want %+v", got, want)
	}
}

func TestConffileCheck(t *testing.T) {
	secs := osfamily.Sections([]byte(`== conffiles
pkg-a
 /etc/a.conf 0123456789abcdef0123456789abcdef
 /etc/old.conf 0123456789abcdef0123456789abcdef obsolete
 /etc/with space.conf 11111111111111111111111111111111
pkg-b:amd64
 /etc/b.conf newconffile
== md5sum
0123456789abcdef0123456789abcdee  /etc/a.conf
md5sum: /etc/old.conf: No such file or directory
11111111111111111111111111111111  /etc/with space.conf
md5sum: /etc/b.conf: Permission denied
`))
	c, err := ParseConffileCheck(secs)
	if err != nil {
		t.Fatal(err)
	}
	want := []patchpilot.ModifiedFile{{Package: "pkg-a", Path: "/etc/a.conf", Conffile: true, Checks: "??5??????"}}
	if got := c.Modified(); !slices.Equal(got, want) {
		t.Errorf("modified %+v, want %+v (obsolete and unconfigured conffiles are not checked)", got, want)
	}
	if !slices.Equal(c.Unreadable, []string{"/etc/b.conf"}) {
		t.Errorf("unreadable %v, want [/etc/b.conf]", c.Unreadable)
	}
	if _, err := ParseConffileCheck(map[string][]string{"conffiles": {"pkg", " /etc/x nothash"}}); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a bad conffile line: got %v, want an error naming line 2", err)
	}
}

// TestStepsDepth checks which steps a collection with and without depth
// runs: depth replaces the services and needs-restart steps.
func TestStepsDepth(t *testing.T) {
	names := func(opts osfamily.Options) []string {
		var n []string
		for _, s := range Steps(opts) {
			n = append(n, s.Name)
		}
		return n
	}
	if got, want := names(osfamily.Options{}), []string{"packages", "updates", "services", "needs_restart"}; !slices.Equal(got, want) {
		t.Errorf("without depth: %v, want %v", got, want)
	}
	if got, want := names(osfamily.Options{Depth: true}), []string{"packages", "updates", "depth"}; !slices.Equal(got, want) {
		t.Errorf("in depth: %v, want %v", got, want)
	}
	if got := names(osfamily.Options{Depth: true, FullVerify: true}); !slices.Contains(got, "verify") {
		t.Errorf("full verify: %v, want a verify step", got)
	}
}

// TestDepthPolicyReadAgainOnlyWhenChanged runs the depth step's Debian
// script on this machine (a Debian host; skipped elsewhere): with no
// previous clock, or one from before the package database last changed,
// it reads apt's policy; with a clock after every change it says the
// policy is unchanged and reads nothing, and the parsed depth says so.
func TestDepthPolicyReadAgainOnlyWhenChanged(t *testing.T) {
	for _, tool := range []string{"dpkg-query", "apt-cache", "find", "md5sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("not a Debian host: no %s", tool)
		}
	}
	st, err := os.Stat("/var/lib/dpkg/status")
	if err != nil {
		t.Skip("no dpkg status")
	}
	run := func(since int64) (patchpilot.HostDepth, map[string][]string) {
		t.Helper()
		step := osfamily.DepthStep(depthPackagesScript, since)
		// Only the Debian part: the services part needs a running systemd.
		args := append([]string{"-c", depthPackagesScript}, step.Cmd.Args[3:]...)
		out, err := exec.Command("sh", args...).Output()
		if err != nil {
			t.Fatalf("sh -c depthPackagesScript %v: %v", step.Cmd.Args[3:], err)
		}
		secs := osfamily.Sections(out)
		var d patchpilot.HostDepth
		depth(&d, osfamily.Transcript{osfamily.StepDepth: {Stdout: out}}, nil)
		return d, secs
	}
	first, secs := run(0)
	if _, ok := secs["policy"]; !ok || first.PolicyUnchanged || first.PolicyClock <= 0 {
		t.Fatalf("no previous clock: policy read %v, unchanged %v, clock %d; want it read with the host's clock", ok, first.PolicyUnchanged, first.PolicyClock)
	}
	// A clock after every change of the package database and lists.
	later, secs := run(max(first.PolicyClock, st.ModTime().Unix()+1) + 5)
	if _, read := secs["policy"]; read || !later.PolicyUnchanged || later.PolicyClock <= 0 {
		t.Errorf("a clock after the last change: policy read %v, unchanged %v, clock %d; want it not read again", read, later.PolicyUnchanged, later.PolicyClock)
	}
	// A clock from before the status file last changed.
	old, secs := run(st.ModTime().Unix() - 10)
	if _, read := secs["policy"]; !read || old.PolicyUnchanged {
		t.Errorf("a clock before dpkg's status changed: policy read %v, unchanged %v; want it read again", read, old.PolicyUnchanged)
	}
}

func TestDepthStepPassesThePolicyClockAsAnArgument(t *testing.T) {
	if got := osfamily.DepthStep(depthPackagesScript, 0).Cmd.Args; len(got) != 4 {
		t.Errorf("no previous clock: args %q, want sh -c SCRIPT NAME", got)
	}
	got := osfamily.DepthStep(depthPackagesScript, 1796604424).Cmd.Args
	if len(got) != 5 || got[4] != "1796604424" || strings.Contains(got[2], "1796604424") {
		t.Errorf("args %q: want the clock as the script's argument, never in the script", got)
	}
}
