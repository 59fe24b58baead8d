package osfamily

import (
	"bytes"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// StepDepth names the family-independent step of a collection in depth.
const StepDepth = "depth"

// depthScript prints, in sections headed "== NAME", what the services in
// depth and the network dependencies are made of, with as few processes
// as it can (its cost is measured in docs/inventory-depth.md):
//
//   - units: the running services' units and main PIDs, as systemctl
//     show prints them ("Id=UNIT", "MainPID=PID"), found without
//     systemctl, which costs three times as much: a system service is
//     running when a process is in its cgroup (the first ".service"
//     component of the process's cgroup path), and its main process is
//     the lowest PID whose parent is not in the same unit; systemctl show
//     only when no process is in a service's cgroup (no systemd cgroups);
//   - exe, maps: each main process's program and mapped files, as
//     "/proc/PID/exe PATH" and "/proc/PID/maps:PATH" lines (find and grep
//     go on past a process that exits meanwhile; mawk would stop);
//   - owners: the package owning each of those files, as
//     "/var/lib/dpkg/info/PACKAGE.list:PATH" lines (grep -F of the paths
//     in dpkg's file lists, a third of the cost of dpkg-query -S, which
//     loads its whole database) or "package: path" lines (rpm -qf
//     filtered to the files asked for); Debian's merged /usr means a
//     mapped /usr/lib file may be listed by its package as /lib, so both
//     forms are asked for;
//   - cgroup: every process's systemd cgroup, which names its unit;
//   - restart: as root, the processes mapping a deleted library or
//     program (see NeedsRestartStep, which this replaces in a collection
//     in depth) as "/proc/PID/maps" lines;
//   - ports: the ephemeral port range;
//   - ss: the listening and established TCP sockets with their processes
//     (ss -H -t -a -n -p), or without ss, tcp, tcp6 and fds:
//     /proc/net/tcp and tcp6 and the socket inodes each process holds;
//   - ip: the host's addresses (ip -o addr).
//
// Reading other users' processes needs root: as another user a "==
// notroot" section says so and the rest is what could be read. It is a
// constant, never built from input.
const depthScript = `set -f
root=0
while read -r k v rest; do [ "$k" = Uid: ] && { [ "$v" = 0 ] && root=1; break; }; done < /proc/self/status
[ $root = 1 ] || echo "== notroot"
set +f
cg=$(grep -s -E '^(0::|[0-9]+:name=systemd:)' /proc/[0-9]*/cgroup)
ppids=$(grep -s '^PPid:' /proc/[0-9]*/status)
set -f
show=$(printf '%s\n--\n%s\n' "$cg" "$ppids" | awk '
  $0 == "--" { pp = 1; next }
  { p = $0; sub(/^\/proc\//, "", p); pid = p; sub(/\/.*/, "", pid) }
  !pp { path = p; sub(/^[0-9]+\/cgroup:[^:]*:[^:]*:/, "", path); n = split(path, c, "/")
        for (i = 1; i <= n; i++) if (c[i] ~ /[.]service$/) { if (pid ~ /^[0-9]+$/) unit[pid] = c[i]; break }
        next }
  (pid in unit) && !(($NF in unit) && unit[$NF] == unit[pid]) && (!(unit[pid] in main) || pid + 0 < main[unit[pid]] + 0) { main[unit[pid]] = pid }
  END { for (u in main) printf "Id=%s\nMainPID=%s\n\n", u, main[u] }')
if [ -z "$show" ]; then
  show=$(systemctl show --type=service --state=running -p Id -p MainPID '*' 2>/dev/null)
fi
echo "== units"
printf '%s\n' "$show"
exes= maps=
for w in $show; do
  case $w in MainPID=[1-9]*) p=${w#MainPID=}; exes="$exes /proc/$p/exe"; maps="$maps /proc/$p/maps" ;; esac
done
ex= mp=
if [ -n "$exes" ]; then
  ex=$(find $exes -maxdepth 0 -printf '%p %l\n' 2>/dev/null)
  mp=$(grep -s -H -o '/.*' $maps)
fi
echo "== exe"
printf '%s\n' "$ex"
echo "== maps"
printf '%s\n' "$mp"
echo "== owners"
all=$(printf '%s\n%s\n' "$ex" "$mp" | awk 'function out(x) { if (!s[x]++) print x }
  /^\/proc\/[0-9]+\/(exe |maps:)\// { p = $0; sub(/^\/proc\/[0-9]+\/(exe |maps:)/, "", p); sub(/ \(deleted\)$/, "", p); out(p)
    if (p ~ /^\/usr\/(lib|lib32|lib64|libx32|bin|sbin)\//) out(substr(p, 5)); else if (p ~ /^\/(lib|lib32|lib64|libx32|bin|sbin)\//) out("/usr" p) }')
set +f
if [ -n "$all" ]; then
  if [ -d /var/lib/dpkg/info ]; then
    printf '%s\n' "$all" | grep -H -F -x -f - /var/lib/dpkg/info/*.list 2>/dev/null
  elif command -v rpm >/dev/null 2>&1; then
    printf '%s\n' "$all" | xargs -r -d '\n' rpm -qf --qf '[%{FILENAMES}\t%{NAME}\n]' 2>/dev/null |
      awk -F '\t' -v want="$all" 'BEGIN { n = split(want, w, "\n"); for (i = 1; i <= n; i++) ok[w[i]] = 1 } ($1 in ok) && !seen[$0]++ { print $2 ": " $1 }'
  fi
fi
echo "== cgroup"
printf '%s\n' "$cg"
if [ $root = 1 ]; then
  echo "== restart"
  grep -l -s -E '/(usr/)?lib(exec)?/[^ ]+ \(deleted\)$' /proc/[0-9]*/maps
fi
echo "== ports"
cat /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null
if command -v ss >/dev/null 2>&1 && out=$(ss -H -t -a -n -p 2>/dev/null); then
  echo "== ss"
  printf '%s\n' "$out"
else
  echo "== tcp"
  cat /proc/net/tcp 2>/dev/null
  echo "== tcp6"
  cat /proc/net/tcp6 2>/dev/null
  echo "== fds"
  find /proc/[0-9]*/fd -lname 'socket:*' -printf '%h %l\n' 2>/dev/null
fi
if command -v ip >/dev/null 2>&1; then
  echo "== ip"
  ip -o addr show 2>/dev/null
fi
`

// DepthServices returns the running services the depth step listed,
// sorted, and whether it ran; a collection in depth lists services there
// instead of in a services step.
func DepthServices(t Transcript) ([]string, bool) {
	res, ok := t.Get(StepDepth)
	if !ok || res.ExitCode != 0 {
		return nil, false
	}
	scan := ParseServiceScan(Sections(res.Stdout))
	var units []string
	for _, u := range scan.Units {
		units = append(units, u.Unit)
	}
	slices.Sort(units)
	return slices.Compact(units), true
}

// DepthNeedsRestart returns the services whose processes map a deleted
// library or program, as the depth step found them, sorted, and whether
// it could tell (it ran as root).
func DepthNeedsRestart(t Transcript) ([]string, bool) {
	res, ok := t.Get(StepDepth)
	if !ok || res.ExitCode != 0 {
		return nil, false
	}
	scan := ParseServiceScan(Sections(res.Stdout))
	if !scan.RestartKnown {
		return nil, false
	}
	var units []string
	for _, pid := range scan.Restart {
		if u := scan.UnitOf[pid]; u != "" {
			units = append(units, u)
		}
	}
	slices.Sort(units)
	return slices.Compact(units), true
}

// ServiceSteps returns the steps that list the running services and
// those needing a restart: the services and needs-restart steps, or in a
// collection in depth the depth step (with the family's checks,
// familyScript), which finds both.
func ServiceSteps(opts Options, familyScript string) []Step {
	if opts.Depth {
		return []Step{DepthStep(familyScript, opts.PolicySince)}
	}
	return []Step{ServicesStep(), NeedsRestartStep()}
}

// DepthStep returns the step of a collection in depth: services in
// depth, sockets and addresses, followed by the family's own checks
// (familyScript, a constant of the family package printing its own
// sections), in one session: one command costs less than several. It
// needs root to see other users' processes; it never fails the
// collection (see Depth).
//
// policySince, when above 0, is passed to the script as its first
// argument (a number, never interpreted by the shell): the family's
// script compares its package database against it (see
// HostDepth.PolicyClock).
func DepthStep(familyScript string, policySince int64) Step {
	script := depthScript + familyScript + "\nexit 0"
	args := []string{"sh", "-c", script, "patchpilot-depth"}
	if policySince > 0 {
		args = append(args, strconv.FormatInt(policySince, 10))
	}
	return Step{Name: StepDepth, Cmd: patchpilot.Command{Args: args, Privileged: true}}
}

// Sections splits a depth script's output into its "== NAME" sections, in
// the order they came; lines before the first header are dropped.
func Sections(out []byte) map[string][]string {
	secs := map[string][]string{}
	cur := ""
	for _, line := range strings.Split(string(out), "\n") {
		if name, ok := strings.CutPrefix(line, "== "); ok && name != "" && !strings.ContainsAny(name, " /") {
			cur = name
			if _, seen := secs[cur]; !seen {
				secs[cur] = []string{}
			}
			continue
		}
		if cur != "" && line != "" {
			secs[cur] = append(secs[cur], line)
		}
	}
	return secs
}

// ServiceScan is what the services-in-depth step printed.
type ServiceScan struct {
	// Root is false when the script ran as another user, which reads
	// only that user's processes.
	Root bool
	// Units are the running services and their main PIDs (0 when the
	// service has no main process), in the order systemctl printed them.
	Units []UnitPID
	// Exe is each main process's program; Maps its mapped files.
	Exe  map[int]string
	Maps map[int][]string
	// Owners are the packages owning each file asked about, by path.
	Owners map[string][]string
	// UnitOf is each process's service unit ("" entries are left out).
	UnitOf map[int]string
	// Restart are the processes that map a deleted library or program;
	// RestartKnown is false when they could not be read (not root).
	Restart      []int
	RestartKnown bool
}

// UnitPID is a running service's unit and main PID.
type UnitPID struct {
	Unit    string
	MainPID int
}

// ParseServiceScan reads the services sections of the depth step's
// output (see Sections). Lines that do not have the shape their section
// expects are skipped: the step is lenient, as the service list is.
func ParseServiceScan(secs map[string][]string) ServiceScan {
	s := ServiceScan{Exe: map[int]string{}, Maps: map[int][]string{}, Owners: map[string][]string{}, UnitOf: map[int]string{}}
	_, notRoot := secs["notroot"]
	s.Root = !notRoot
	// systemctl show prints one block per unit, properties in its own
	// order, blocks separated by blank lines (dropped by Sections): a
	// unit's block ends when a property repeats.
	var cur UnitPID
	have := map[string]bool{}
	flush := func() {
		if unitName.MatchString(cur.Unit) {
			s.Units = append(s.Units, cur)
		}
		cur, have = UnitPID{}, map[string]bool{}
	}
	for _, line := range secs["units"] {
		k, v, ok := strings.Cut(line, "=")
		if !ok || (k != "Id" && k != "MainPID") {
			continue
		}
		if have[k] {
			flush()
		}
		have[k] = true
		if k == "Id" {
			cur.Unit = v
		} else if n, err := strconv.Atoi(v); err == nil && n > 0 {
			cur.MainPID = n
		}
	}
	flush()
	for _, line := range secs["exe"] {
		pid, path, ok := procLine(line)
		if ok && strings.HasPrefix(path, "/") {
			s.Exe[pid] = strings.TrimSuffix(path, " (deleted)")
		}
	}
	for _, line := range secs["maps"] {
		pid, path, ok := procLine(line)
		if ok && strings.HasPrefix(path, "/") {
			s.Maps[pid] = append(s.Maps[pid], strings.TrimSuffix(path, " (deleted)"))
		}
	}
	for _, line := range secs["owners"] {
		pkgs, path := ParseOwnerLine(line)
		for _, p := range pkgs {
			if !slices.Contains(s.Owners[path], p) {
				s.Owners[path] = append(s.Owners[path], p)
			}
		}
	}
	if lines, ok := secs["restart"]; ok {
		s.RestartKnown = true
		for _, line := range lines {
			num, ok := strings.CutSuffix(strings.TrimPrefix(line, "/proc/"), "/maps")
			if pid, err := strconv.Atoi(num); ok && err == nil && pid > 0 {
				s.Restart = append(s.Restart, pid)
			}
		}
	}
	for _, line := range secs["cgroup"] {
		pid, unit, ok := cgroupLine(line)
		if ok && s.UnitOf[pid] == "" {
			s.UnitOf[pid] = unit
		}
	}
	return s
}

// procLine reads "/proc/PID/KIND PATH" or "/proc/PID/KIND:PATH".
func procLine(line string) (int, string, bool) {
	rest, ok := strings.CutPrefix(line, "/proc/")
	if !ok {
		return 0, "", false
	}
	num, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, "", false
	}
	i := strings.IndexAny(rest, " :")
	if i < 0 {
		return 0, "", false
	}
	path := rest[i+1:]
	pid, err := strconv.Atoi(num)
	if err != nil || pid <= 0 {
		return 0, "", false
	}
	return pid, path, true
}

// ParseOwnerLine parses one line of the owners section: grep's
// "/var/lib/dpkg/info/PKG[:ARCH].list:/path", or dpkg-query -S's (and the
// rpm branch's) "pkg1, pkg2:arch: /path". It returns the packages,
// architecture qualifiers stripped, and the path. Diversion lines and
// lines of no such shape give no package.
func ParseOwnerLine(line string) ([]string, string) {
	if rest, ok := strings.CutPrefix(line, "/var/lib/dpkg/info/"); ok {
		file, path, ok := strings.Cut(rest, ".list:")
		name, _, _ := strings.Cut(file, ":")
		if !ok || name == "" || strings.ContainsAny(name, "/ \t") || !strings.HasPrefix(path, "/") {
			return nil, ""
		}
		return []string{name}, path
	}
	if strings.HasPrefix(line, "diversion by ") {
		return nil, ""
	}
	i := strings.Index(line, ": /")
	if i <= 0 {
		return nil, ""
	}
	path := line[i+2:]
	var pkgs []string
	for _, p := range strings.Split(line[:i], ",") {
		p = strings.TrimSpace(p)
		p, _, _ = strings.Cut(p, ":")
		if p == "" || strings.ContainsAny(p, " \t") {
			return nil, ""
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, path
}

// cgroupLine reads "/proc/PID/cgroup:HIERARCHY:CONTROLLERS:PATH" (grep's
// file prefix before a /proc/PID/cgroup line) and returns the process and
// the first service unit in its cgroup path.
func cgroupLine(line string) (int, string, bool) {
	rest, ok := strings.CutPrefix(line, "/proc/")
	if !ok {
		return 0, "", false
	}
	num, rest, ok := strings.Cut(rest, "/cgroup:")
	if !ok {
		return 0, "", false
	}
	pid, err := strconv.Atoi(num)
	if err != nil || pid <= 0 {
		return 0, "", false
	}
	parts := strings.SplitN(rest, ":", 3)
	if len(parts) != 3 {
		return 0, "", false
	}
	for _, c := range strings.Split(parts[2], "/") {
		if unitName.MatchString(c) {
			return pid, c, true
		}
	}
	return 0, "", false
}

// SocketEntry is one TCP socket as ss or /proc/net/tcp showed it.
type SocketEntry struct {
	State   string // "LISTEN", "ESTAB"; other states are not kept
	Local   string // address, "" for any address
	LPort   int
	Peer    string
	PPort   int
	Process string // the first owning process's name
	PIDs    []int
	Inode   uint64 // /proc/net/tcp only
}

// ParseSS parses "ss -H -t -a -n -p": state, queues, local and peer
// address:port and, for root or the user's own sockets, the owning
// processes as users:(("name",pid=N,fd=M),...). Only LISTEN and ESTAB
// sockets are kept; a line of another shape is an EINVALID error naming
// it.
func ParseSS(out []byte) ([]SocketEntry, error) {
	var socks []SocketEntry
	for n, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 5 {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "ss line %d: want state, queues, local and peer address, got %q", n+1, line)
		}
		state := f[0]
		if state != "LISTEN" && state != "ESTAB" {
			continue
		}
		la, lp, err := splitHostPort(f[3])
		if err != nil {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "ss line %d: local address: %v", n+1, err)
		}
		pa, pp, err := splitHostPort(f[4])
		if err != nil {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "ss line %d: peer address: %v", n+1, err)
		}
		if state == "ESTAB" && (lp == 0 || pp == 0) {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "ss line %d: an established socket with no port: %q", n+1, line)
		}
		e := SocketEntry{State: state, Local: la, LPort: lp, Peer: pa, PPort: pp}
		if len(f) > 5 {
			e.Process, e.PIDs = ssUsers(strings.Join(f[5:], " "))
		}
		socks = append(socks, e)
	}
	return socks, nil
}

// ssUsers reads users:(("name",pid=N,fd=M),("name",pid=N2,fd=M2)).
func ssUsers(s string) (string, []int) {
	_, s, ok := strings.Cut(s, "users:(")
	if !ok {
		return "", nil
	}
	var name string
	var pids []int
	for _, part := range strings.Split(s, "),(") {
		part = strings.Trim(part, "()")
		if q := strings.Index(part, `"`); q >= 0 {
			if e := strings.Index(part[q+1:], `"`); e >= 0 && name == "" {
				name = part[q+1 : q+1+e]
			}
		}
		for _, kv := range strings.Split(part, ",") {
			if v, ok := strings.CutPrefix(kv, "pid="); ok {
				if pid, err := strconv.Atoi(v); err == nil && pid > 0 && !slices.Contains(pids, pid) {
					pids = append(pids, pid)
				}
			}
		}
	}
	return name, pids
}

// splitHostPort splits ss's "addr:port": IPv6 addresses in brackets,
// "*" or "0.0.0.0" or "::" for any address (returned as ""), a "%iface"
// scope dropped, IPv4-mapped IPv6 addresses returned as IPv4, "*" as the
// port of an unconnected peer returned as 0.
func splitHostPort(s string) (string, int, error) {
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return "", 0, patchpilot.Errorf(patchpilot.EINVALID, "want ADDRESS:PORT, got %q", s)
	}
	host, port := s[:i], s[i+1:]
	p := 0
	if port != "*" {
		var err error
		if p, err = strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			return "", 0, patchpilot.Errorf(patchpilot.EINVALID, "want a port 0-65535 or *, got %q in %q", port, s)
		}
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if j := strings.Index(host, "%"); j >= 0 {
		host = host[:j]
	}
	return normAddr(host), p, nil
}

// normAddr returns "" for a wildcard address and an IPv4-mapped IPv6
// address as IPv4.
func normAddr(a string) string {
	a = strings.ToLower(a)
	if v4, ok := strings.CutPrefix(a, "::ffff:"); ok && strings.Count(v4, ".") == 3 {
		a = v4
	}
	switch a {
	case "*", "0.0.0.0", "::", "":
		return ""
	}
	return a
}

// tcpStates maps /proc/net/tcp's hexadecimal states to ss's names.
var tcpStates = map[string]string{"0A": "LISTEN", "01": "ESTAB"}

// ParseProcNetTCP parses /proc/net/tcp or /proc/net/tcp6 (the header line
// first, then "sl: LOCAL REMOTE STATE ... UID TIMEOUT INODE ..." with
// addresses as hexadecimal 32-bit words in host (little-endian) order).
// Only LISTEN and ESTABLISHED sockets are kept.
func ParseProcNetTCP(out []byte) ([]SocketEntry, error) {
	var socks []SocketEntry
	for n, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] == "sl" {
			continue
		}
		if len(f) < 10 || !strings.HasSuffix(f[0], ":") {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "/proc/net/tcp line %d: want \"sl: local remote state ... inode\", got %q", n+1, line)
		}
		state, ok := tcpStates[strings.ToUpper(f[3])]
		if !ok {
			continue
		}
		la, lp, err := hexAddr(f[1])
		if err != nil {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "/proc/net/tcp line %d: local address: %v", n+1, err)
		}
		pa, pp, err := hexAddr(f[2])
		if err != nil {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "/proc/net/tcp line %d: remote address: %v", n+1, err)
		}
		inode, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "/proc/net/tcp line %d: want a decimal inode, got %q", n+1, f[9])
		}
		socks = append(socks, SocketEntry{State: state, Local: la, LPort: lp, Peer: pa, PPort: pp, Inode: inode})
	}
	return socks, nil
}

func hexAddr(s string) (string, int, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok || len(p) != 4 || (len(h) != 8 && len(h) != 32) {
		return "", 0, patchpilot.Errorf(patchpilot.EINVALID, "want 8 or 32 hex digits:4 hex digits, got %q", s)
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return "", 0, patchpilot.Errorf(patchpilot.EINVALID, "want a hexadecimal port, got %q", p)
	}
	var b []byte
	for i := 0; i < len(h); i += 8 {
		w, err := strconv.ParseUint(h[i:i+8], 16, 32)
		if err != nil {
			return "", 0, patchpilot.Errorf(patchpilot.EINVALID, "want a hexadecimal address, got %q", h)
		}
		b = append(b, byte(w), byte(w>>8), byte(w>>16), byte(w>>24))
	}
	return normAddr(ipString(b)), int(port), nil
}

func ipString(b []byte) string {
	if len(b) == 4 {
		return strconv.Itoa(int(b[0])) + "." + strconv.Itoa(int(b[1])) + "." + strconv.Itoa(int(b[2])) + "." + strconv.Itoa(int(b[3]))
	}
	if bytes.Equal(b[:12], []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}) {
		return ipString(b[12:])
	}
	// The shortest form of RFC 5952: the longest run of zero groups (two
	// or more) becomes "::".
	var g [8]uint16
	for i := range g {
		g[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	best, bestLen := -1, 1
	for i := 0; i < 8; {
		if g[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && g[j] == 0 {
			j++
		}
		if j-i > bestLen {
			best, bestLen = i, j-i
		}
		i = j
	}
	var sb strings.Builder
	for i := 0; i < 8; i++ {
		if i == best {
			sb.WriteString("::")
			i += bestLen - 1
			continue
		}
		if i > 0 && i != best+bestLen {
			sb.WriteByte(':')
		}
		sb.WriteString(strconv.FormatUint(uint64(g[i]), 16))
	}
	return sb.String()
}

// ParseSocketFDs reads "find /proc/PID/fd -lname 'socket:*' -printf '%h
// %l\n'" lines ("/proc/PID/fd socket:[INODE]") into each socket inode's
// processes.
func ParseSocketFDs(lines []string) map[uint64][]int {
	m := map[uint64][]int{}
	for _, line := range lines {
		dir, link, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		num, ok := strings.CutSuffix(strings.TrimPrefix(dir, "/proc/"), "/fd")
		pid, err := strconv.Atoi(num)
		if !ok || err != nil || pid <= 0 {
			continue
		}
		ino, ok := strings.CutPrefix(link, "socket:[")
		if !ok {
			continue
		}
		inode, err := strconv.ParseUint(strings.TrimSuffix(ino, "]"), 10, 64)
		if err != nil {
			continue
		}
		if !slices.Contains(m[inode], pid) {
			m[inode] = append(m[inode], pid)
		}
	}
	return m
}

// ParseIPAddr returns the addresses "ip -o addr" lists ("N: IFACE inet
// ADDR/PREFIX ..."), prefix lengths dropped, in the order listed.
func ParseIPAddr(lines []string) []string {
	var out []string
	for _, line := range lines {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] != "inet" && f[i] != "inet6" {
				continue
			}
			a, _, _ := strings.Cut(f[i+1], "/")
			if a = normAddr(a); a != "" && !slices.Contains(out, a) {
				out = append(out, a)
			}
			break
		}
	}
	return out
}

// EphemeralRange reads /proc/sys/net/ipv4/ip_local_port_range ("32768
// 60999"); ok is false when it could not be read.
func EphemeralRange(lines []string) (lo, hi int, ok bool) {
	if len(lines) == 0 {
		return 0, 0, false
	}
	f := strings.Fields(lines[0])
	if len(f) != 2 {
		return 0, 0, false
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || lo <= 0 || hi < lo || hi > 65535 {
		return 0, 0, false
	}
	return lo, hi, true
}

// altPath returns the other form of a path under Debian's merged /usr:
// /usr/lib/x ↔ /lib/x (and bin, sbin, lib32, lib64, libx32), or "".
func altPath(p string) string {
	for _, d := range []string{"lib", "lib32", "lib64", "libx32", "bin", "sbin"} {
		if rest, ok := strings.CutPrefix(p, "/usr/"+d+"/"); ok {
			return "/" + d + "/" + rest
		}
		if rest, ok := strings.CutPrefix(p, "/"+d+"/"); ok {
			return "/usr/" + d + "/" + rest
		}
	}
	return ""
}

// owners returns the packages owning path, trying its merged-/usr form
// when the path itself is not listed.
func (s ServiceScan) owners(path string) []string {
	if o := s.Owners[path]; len(o) > 0 {
		return o
	}
	if alt := altPath(path); alt != "" {
		return s.Owners[alt]
	}
	return nil
}

// Depth builds a host's depth from the depth steps of t and the host's
// installed packages (which give the owning packages' versions). It
// returns nil when t has neither depth step (a collection without depth).
// What could not be read goes to Missing with why; it never fails. The
// family adds its own parts (modified files, held, pinned and foreign
// packages).
func Depth(t Transcript, pkgs []patchpilot.Package) *patchpilot.HostDepth {
	res, ok := t.Get(StepDepth)
	if !ok {
		return nil
	}
	d := &patchpilot.HostDepth{}
	version := map[string]string{}
	for _, p := range pkgs {
		if p.Status == "" {
			version[p.Name] = p.Version
		}
	}
	if res.ExitCode != 0 {
		d.Missing = append(d.Missing, "services, sockets: "+failure(res))
		return d
	}
	secs := Sections(res.Stdout)
	scan := ParseServiceScan(secs)
	if !scan.Root {
		d.Missing = append(d.Missing, "services: not root, so other users' processes (programs, libraries, units) could not be read")
	}
	if len(scan.Units) == 0 {
		d.Missing = append(d.Missing, "services: systemctl listed no running service")
	}
	for _, u := range scan.Units {
		sd := patchpilot.ServiceDetail{Unit: u.Unit, MainPID: u.MainPID, Exe: scan.Exe[u.MainPID]}
		libs := map[string]bool{}
		if sd.Exe != "" {
			if o := scan.owners(sd.Exe); len(o) > 0 {
				sd.Package = o[0]
				sd.Version = version[sd.Package]
				libs[sd.Package] = true
			}
		}
		for _, m := range scan.Maps[u.MainPID] {
			for _, p := range scan.owners(m) {
				libs[p] = true
			}
		}
		for p := range libs {
			sd.Libraries = append(sd.Libraries, p)
		}
		slices.Sort(sd.Libraries)
		d.Services = append(d.Services, sd)
	}
	slices.SortFunc(d.Services, func(a, b patchpilot.ServiceDetail) int { return strings.Compare(a.Unit, b.Unit) })

	socketsDepth(d, secs, scan)
	return d
}

func failure(res patchpilot.Result) string {
	msg := strings.TrimSpace(string(res.Stderr))
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if msg == "" {
		msg = "no message"
	}
	return "exit status " + strconv.Itoa(res.ExitCode) + ": " + msg
}

// socketsDepth fills the listeners, connections and addresses from the
// sockets step's sections.
func socketsDepth(d *patchpilot.HostDepth, secs map[string][]string, scan ServiceScan) {
	_, notRoot := secs["notroot"]
	var socks []SocketEntry
	procInfo := !notRoot
	if lines, ok := secs["ss"]; ok {
		var err error
		if socks, err = ParseSS([]byte(strings.Join(lines, "\n"))); err != nil {
			d.Missing = append(d.Missing, "sockets: "+err.Error())
			return
		}
		if notRoot {
			d.Missing = append(d.Missing, "sockets: not root, so ss could not name the processes of other users' sockets; all sockets kept")
		}
	} else {
		for _, name := range []string{"tcp", "tcp6"} {
			s, err := ParseProcNetTCP([]byte(strings.Join(secs[name], "\n")))
			if err != nil {
				d.Missing = append(d.Missing, "sockets: "+err.Error())
				return
			}
			socks = append(socks, s...)
		}
		if _, ok := secs["tcp"]; !ok {
			d.Missing = append(d.Missing, "sockets: neither ss nor /proc/net/tcp could be read")
			return
		}
		fds := ParseSocketFDs(secs["fds"])
		for i := range socks {
			socks[i].PIDs = fds[socks[i].Inode]
		}
		if notRoot {
			d.Missing = append(d.Missing, "sockets: ss is missing and, not being root, other users' processes could not be matched to /proc/net/tcp; all sockets kept")
		} else {
			d.Missing = append(d.Missing, "sockets: ss is missing; read /proc/net/tcp, without process names")
		}
	}
	// With process information, only the host's own sockets are kept: a
	// host may share its network namespace with others (containers), and
	// then sees their sockets too.
	if procInfo {
		own := socks[:0]
		for _, s := range socks {
			if len(s.PIDs) > 0 {
				own = append(own, s)
			}
		}
		socks = own
	}
	unitOf := func(s SocketEntry) string {
		for _, pid := range s.PIDs {
			if u := scan.UnitOf[pid]; u != "" {
				return u
			}
		}
		return ""
	}
	// listening maps a port to the addresses listening on it ("" for
	// every address): a connection is incoming only when its local
	// address:port answers.
	listening := map[int][]string{}
	seenL := map[patchpilot.Socket]bool{}
	listens := map[string][]patchpilot.Socket{}
	for _, s := range socks {
		if s.State != "LISTEN" {
			continue
		}
		if a := listenAddr(s.Local); !slices.Contains(listening[s.LPort], a) {
			listening[s.LPort] = append(listening[s.LPort], a)
		}
		sock := patchpilot.Socket{Address: s.Local, Port: s.LPort}
		if !seenL[sock] {
			seenL[sock] = true
			d.Listeners = append(d.Listeners, sock)
		}
		if u := unitOf(s); u != "" && !slices.Contains(listens[u], sock) {
			listens[u] = append(listens[u], sock)
		}
	}
	sortSockets(d.Listeners)
	for i := range d.Services {
		d.Services[i].Listens = listens[d.Services[i].Unit]
		sortSockets(d.Services[i].Listens)
	}
	lo, hi, haveRange := EphemeralRange(secs["ports"])
	if !haveRange {
		lo, hi = 32768, 60999
	}
	seenC := map[patchpilot.Connection]bool{}
	addrs := ParseIPAddr(secs["ip"])
	for i := 0; i < len(addrs); {
		if loopback(addrs[i]) {
			addrs = slices.Delete(addrs, i, i+1)
			continue
		}
		i++
	}
	addAddr := func(a string) {
		if a != "" && a != "127.0.0.1" && a != "::1" && !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	for _, s := range socks {
		if s.State == "LISTEN" {
			if procInfo {
				addAddr(s.Local)
			}
			continue
		}
		c := patchpilot.Connection{Service: unitOf(s), Process: s.Process, Local: s.Local, Peer: s.Peer}
		switch {
		case listensAt(listening[s.LPort], s.Local):
			c.Direction, c.Port = patchpilot.DirectionIn, s.LPort
		case s.PPort >= lo && s.PPort <= hi:
			// Both ends on ephemeral ports: no service port to name.
			continue
		default:
			c.Direction, c.Port = patchpilot.DirectionOut, s.PPort
		}
		if procInfo {
			addAddr(s.Local)
		}
		if !seenC[c] {
			seenC[c] = true
			d.Connections = append(d.Connections, c)
		}
	}
	slices.SortFunc(d.Connections, func(a, b patchpilot.Connection) int {
		for _, c := range []int{strings.Compare(a.Direction, b.Direction), strings.Compare(a.Service, b.Service),
			strings.Compare(a.Peer, b.Peer), a.Port - b.Port, strings.Compare(a.Process, b.Process), strings.Compare(a.Local, b.Local)} {
			if c != 0 {
				return c
			}
		}
		return 0
	})
	slices.Sort(addrs)
	d.Addresses = addrs
	if _, ok := secs["ip"]; !ok {
		d.Missing = append(d.Missing, "addresses: ip is missing; only the addresses of the host's own sockets are known")
	}
}

// listenAddr is a listening socket's address, "" for a wildcard (every
// address of the host).
func listenAddr(a string) string {
	if a == "" || a == "*" {
		return ""
	}
	if ip, err := netip.ParseAddr(a); err == nil && ip.IsUnspecified() {
		return ""
	}
	return a
}

// listensAt reports whether one of addrs (the listening addresses of a
// port) answers at local: a wildcard, or the same address.
func listensAt(addrs []string, local string) bool {
	for _, a := range addrs {
		if a == "" || a == local {
			return true
		}
		x, err1 := netip.ParseAddr(a)
		y, err2 := netip.ParseAddr(local)
		if err1 == nil && err2 == nil && x.Unmap() == y.Unmap() {
			return true
		}
	}
	return false
}

// loopback reports loopback and IPv6 link-local addresses, which name no
// host from another.
func loopback(a string) bool {
	return strings.HasPrefix(a, "127.") || a == "::1" || strings.HasPrefix(a, "fe80:")
}

func sortSockets(s []patchpilot.Socket) {
	slices.SortFunc(s, func(a, b patchpilot.Socket) int {
		if c := strings.Compare(a.Address, b.Address); c != 0 {
			return c
		}
		return a.Port - b.Port
	})
}
