package osfamily

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n")
}

// TestParseProcNetTCPLabCapture reads /proc/net/tcp and the socket inodes
// of the processes of a lab host (debian12-lab-proc: lab01 of a lab of
// two on 127.0.77.x, whose network namespace is the machine's, so the
// table holds every lab's sockets) and finds lab01's own sockets.
func TestParseProcNetTCPLabCapture(t *testing.T) {
	data, err := os.ReadFile("testdata/debian12-lab-proc/proc-net-tcp.out")
	if err != nil {
		t.Fatal(err)
	}
	socks, err := ParseProcNetTCP(data)
	if err != nil {
		t.Fatal(err)
	}
	fds := ParseSocketFDs(readLines(t, "testdata/debian12-lab-proc/fds.out"))
	own := map[string][]int{}
	listen := 0
	for _, s := range socks {
		if s.State == "LISTEN" {
			listen++
		}
		if pids := fds[s.Inode]; len(pids) > 0 {
			key := s.State + " " + s.Local + ":" + strconv.Itoa(s.LPort) + " " + s.Peer + ":" + strconv.Itoa(s.PPort)
			own[key] = pids
		}
	}
	if listen != 7 {
		t.Errorf("listening sockets: got %d, want the 7 of the capture", listen)
	}
	want := map[string][]int{
		"LISTEN 127.0.77.1:22 :0":               {46},
		"LISTEN 127.0.77.1:8080 :0":             {30},
		"LISTEN 127.0.77.1:9100 :0":             {31},
		"ESTAB 127.0.0.1:55964 127.0.77.2:8080": {547},
	}
	if len(own) != len(want) {
		t.Errorf("lab01's sockets: got %v, want %v", own, want)
	}
	for k, v := range want {
		if !slices.Equal(own[k], v) {
			t.Errorf("socket %s: processes %v, want %v", k, own[k], v)
		}
	}
	// The header of tcp6 alone is no socket and no error.
	data, err = os.ReadFile("testdata/debian12-lab-proc/proc-net-tcp6.out")
	if err != nil {
		t.Fatal(err)
	}
	if s, err := ParseProcNetTCP(data); err != nil || len(s) != 0 {
		t.Errorf("tcp6 header only: got %v, %v; want no socket", s, err)
	}
}

// TestParseProcNetTCP6 reads IPv6 rows in the kernel's layout (four
// 32-bit words, each in host byte order), as proc(5) documents them.
func TestParseProcNetTCP6(t *testing.T) {
	out := []byte(`  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 20001 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000200007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 20002 1 0000000000000000 20 4 30 10 -1
   2: 000080FE00000000FF00FC00010000FE:01BB 00000000000000000000000001000000:C350 06 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000000000000 20 4 30 10 -1
   3: 0000000000000000000000000100000000:0016 0:0 01 x x x x x x 1
`)
	_, err := ParseProcNetTCP(out)
	if err == nil || !strings.Contains(err.Error(), "line 5") {
		t.Fatalf("a malformed row: got %v, want an error naming line 5", err)
	}
	socks, err := ParseProcNetTCP([]byte(strings.Join(strings.Split(string(out), "\n")[:4], "\n")))
	if err != nil {
		t.Fatal(err)
	}
	want := []SocketEntry{
		{State: "LISTEN", Local: "", LPort: 22, Peer: "", PPort: 0, Inode: 20001},
		{State: "ESTAB", Local: "127.0.0.1", LPort: 8080, Peer: "127.0.0.2", PPort: 54321, Inode: 20002},
	}
	if len(socks) != len(want) {
		t.Fatalf("got %+v, want %+v (TIME_WAIT dropped)", socks, want)
	}
	for i := range want {
		if socks[i].State != want[i].State || socks[i].Local != want[i].Local || socks[i].LPort != want[i].LPort ||
			socks[i].Peer != want[i].Peer || socks[i].PPort != want[i].PPort || socks[i].Inode != want[i].Inode {
			t.Errorf("socket %d: got %+v, want %+v", i, socks[i], want[i])
		}
	}
}

func TestIPv6String(t *testing.T) {
	for in, want := range map[string]string{
		"000080FE00000000FF00FC00010000FE:0000": "fe80::fc:ff:fe00:1",
		"00000000000000000000000001000000:0000": "::1",
		"B80D0120000000000000000001000000:0000": "2001:db8::1",
		"000000FD000000000000000002000000:0000": "fd00::2",
	} {
		got, _, err := hexAddr(in)
		if err != nil || got != want {
			t.Errorf("hexAddr(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestSplitHostPort(t *testing.T) {
	for in, want := range map[string]struct {
		addr string
		port int
	}{
		"127.0.77.1:22":           {"127.0.77.1", 22},
		"0.0.0.0:*":               {"", 0},
		"*:22":                    {"", 22},
		"[::]:22":                 {"", 22},
		"[::ffff:127.0.0.1]:8080": {"127.0.0.1", 8080},
		"127.0.0.53%lo:53":        {"127.0.0.53", 53},
		"[fe80::1%eth0]:546":      {"fe80::1", 546},
		"[2001:DB8::1]:443":       {"2001:db8::1", 443},
	} {
		a, p, err := splitHostPort(in)
		if err != nil || a != want.addr || p != want.port {
			t.Errorf("splitHostPort(%q) = %q, %d, %v; want %q, %d", in, a, p, err, want.addr, want.port)
		}
	}
	for _, bad := range []string{"nocolon", "1.2.3.4:http", "1.2.3.4:70000"} {
		if _, _, err := splitHostPort(bad); err == nil {
			t.Errorf("splitHostPort(%q): want an error", bad)
		}
	}
}

func TestParseSSUsers(t *testing.T) {
	socks, err := ParseSS([]byte(`LISTEN 0 511 0.0.0.0:80 0.0.0.0:* users:(("nginx",pid=812,fd=6),("nginx",pid=811,fd=6),("nginx",pid=810,fd=6))
TIME-WAIT 0 0 10.0.0.5:80 10.0.0.9:51000
ESTAB 0 0 [::ffff:10.0.0.5]:80 [::ffff:10.0.0.9]:51234 users:(("nginx",pid=812,fd=11))
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(socks) != 2 || socks[0].Process != "nginx" || !slices.Equal(socks[0].PIDs, []int{812, 811, 810}) ||
		socks[1].Local != "10.0.0.5" || socks[1].PPort != 51234 {
		t.Errorf("got %+v", socks)
	}
	if _, err := ParseSS([]byte("ESTAB 0 0 10.0.0.5:80\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("a short line: got %v, want an error naming line 1", err)
	}
}

// TestDepthProcFallback builds the sockets of a host without ss from the
// lab capture of /proc/net/tcp: the host's own sockets are kept (those of
// its processes), the others dropped, and Missing says that ss was not
// there.
func TestDepthProcFallback(t *testing.T) {
	var b strings.Builder
	b.WriteString("== units\nId=ssh.service\nMainPID=46\n== cgroup\n/proc/46/cgroup:0::/system.slice/ssh.service\n/proc/547/cgroup:0::/system.slice/pp-dep-client.service\n")
	b.WriteString("== ports\n32768\t60999\n== tcp\n")
	for _, f := range []string{"proc-net-tcp.out", "proc-net-tcp6.out", "fds.out"} {
		if f == "proc-net-tcp6.out" {
			b.WriteString("== tcp6\n")
		}
		if f == "fds.out" {
			b.WriteString("== fds\n")
		}
		data, err := os.ReadFile("testdata/debian12-lab-proc/" + f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	d := Depth(Transcript{StepDepth: {Stdout: []byte(b.String())}}, nil)
	wantL := []patchpilot.Socket{{Address: "127.0.77.1", Port: 22}, {Address: "127.0.77.1", Port: 8080}, {Address: "127.0.77.1", Port: 9100}}
	if !slices.Equal(d.Listeners, wantL) {
		t.Errorf("listeners %v, want %v", d.Listeners, wantL)
	}
	wantC := []patchpilot.Connection{{Direction: "out", Service: "pp-dep-client.service", Local: "127.0.0.1", Peer: "127.0.77.2", Port: 8080}}
	if !slices.Equal(d.Connections, wantC) {
		t.Errorf("connections %+v, want %+v", d.Connections, wantC)
	}
	if len(d.Services) != 1 || !slices.Equal(d.Services[0].Listens, []patchpilot.Socket{{Address: "127.0.77.1", Port: 22}}) {
		t.Errorf("services %+v, want ssh.service listening on 127.0.77.1:22", d.Services)
	}
	if !slices.ContainsFunc(d.Missing, func(m string) bool { return strings.Contains(m, "ss is missing") }) {
		t.Errorf("missing %q, want a note that ss is missing", d.Missing)
	}
	if !slices.Equal(d.Addresses, []string{"127.0.77.1"}) {
		t.Errorf("addresses %v, want [127.0.77.1] (no ip section; 127.0.0.1 is every host's)", d.Addresses)
	}
}

// TestDepthWithoutStep is nil for a transcript of a collection without
// depth, and lists why when the step failed.
func TestDepthWithoutStep(t *testing.T) {
	if d := Depth(Transcript{StepServices: {}}, nil); d != nil {
		t.Errorf("no depth step: got %+v, want nil", d)
	}
	d := Depth(Transcript{StepDepth: {ExitCode: 127, Stderr: []byte("sh: not found\n")}}, nil)
	if d == nil || len(d.Missing) != 1 || !strings.Contains(d.Missing[0], "exit status 127: sh: not found") {
		t.Errorf("a failed step: got %+v, want one Missing naming the failure", d)
	}
}

func TestParseOwnerLine(t *testing.T) {
	for line, want := range map[string]string{
		"libc6:amd64: /lib/x86_64-linux-gnu/libc.so.6":      "libc6 /lib/x86_64-linux-gnu/libc.so.6",
		"libgcc-s1:amd64, libgcc-s1:i386: /usr/share/doc/x": "libgcc-s1,libgcc-s1 /usr/share/doc/x",
		"openssh-server: /usr/sbin/sshd":                    "openssh-server /usr/sbin/sshd",
		"diversion by dash from: /bin/sh":                   " ",
		"dpkg-query: no path found matching pattern /x":     " ",
	} {
		pkgs, path := ParseOwnerLine(line)
		if got := strings.Join(pkgs, ",") + " " + path; got != want {
			t.Errorf("ParseOwnerLine(%q) = %q, want %q", line, got, want)
		}
	}
}

// TestDepthNotRoot parses the depth step as a lab host's "nobody" ran it
// (debian12-lab-nonroot): units are known but not their programs, ss
// names no process, so every socket of the machine is kept and the
// address list is only ip's; Missing says why.
func TestDepthNotRoot(t *testing.T) {
	data, err := os.ReadFile("testdata/debian12-lab-nonroot/depth.out")
	if err != nil {
		t.Fatal(err)
	}
	tr := Transcript{StepDepth: {Stdout: data}}
	d := Depth(tr, nil)
	if len(d.Services) != 8 {
		t.Errorf("%d services, want the 8 running units", len(d.Services))
	}
	for _, s := range d.Services {
		if s.Exe != "" || s.Package != "" || len(s.Libraries) != 0 {
			t.Errorf("%s: %+v, want no program or libraries without root", s.Unit, s)
		}
	}
	for _, want := range []string{"services: not root", "sockets: not root"} {
		if !slices.ContainsFunc(d.Missing, func(m string) bool { return strings.HasPrefix(m, want) }) {
			t.Errorf("missing %q, want a %q note", d.Missing, want)
		}
	}
	// Every lab's listeners are there, since none could be told apart.
	if !slices.Contains(d.Listeners, patchpilot.Socket{Address: "127.0.77.2", Port: 22}) {
		t.Errorf("listeners %v, want lab02's too without process information", d.Listeners)
	}
	if slices.Contains(d.Addresses, "127.0.77.2") {
		t.Errorf("addresses %v: without process information no socket's address is the host's", d.Addresses)
	}
	if units, ok := DepthNeedsRestart(tr); ok || units != nil {
		t.Errorf("needs restart %v, %v without root, want unknown", units, ok)
	}
}

// An incoming connection needs a listener at its local address (or a
// wildcard) on its port: without root every socket of a shared network
// namespace is kept, and a port another address listens on says nothing.
func TestDepthIncomingNeedsListenerAtLocalAddress(t *testing.T) {
	out := strings.Join([]string{
		"== notroot",
		"== ss",
		"LISTEN 0 4096 127.0.88.3:8080 0.0.0.0:*",
		"LISTEN 0 4096 0.0.0.0:9100 0.0.0.0:*",
		"ESTAB 0 0 127.0.88.3:8080 127.0.88.5:40001",
		"ESTAB 0 0 127.0.88.9:8080 127.0.88.5:40002",
		"ESTAB 0 0 127.0.88.9:9100 127.0.88.5:40003",
		"== ip",
		"",
	}, "\n")
	d := Depth(Transcript{StepDepth: {Stdout: []byte(out)}}, nil)
	var in []string
	for _, c := range d.Connections {
		if c.Direction == patchpilot.DirectionIn {
			in = append(in, fmt.Sprintf("%s:%d<-%s", c.Local, c.Port, c.Peer))
		}
	}
	want := []string{"127.0.88.3:8080<-127.0.88.5", "127.0.88.9:9100<-127.0.88.5"}
	if !slices.Equal(in, want) {
		t.Errorf("incoming %v, want %v (127.0.88.9:8080 has no listener)", in, want)
	}
}
