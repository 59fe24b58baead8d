package health

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"
)

// parseUnitList reads the unit names of `systemctl list-units --plain
// --no-legend`: the first field of each line. Some systemd versions still
// mark failed units with a bullet, which is skipped.
func parseUnitList(out []byte) []string {
	var units []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && (f[0] == "●" || f[0] == "*") {
			f = f[1:]
		}
		if len(f) > 0 {
			units = append(units, f[0])
		}
	}
	sort.Strings(units)
	return units
}

// unitState is one unit's block of `systemctl show --property=...`.
type unitState struct {
	ID          string `json:"id"`
	LoadState   string `json:"load_state"`
	ActiveState string `json:"active_state"`
	SubState    string `json:"sub_state"`
}

// parseUnitShow reads the blank-line separated blocks of `systemctl show`
// for several units, in the order asked.
func parseUnitShow(out []byte) ([]unitState, error) {
	var states []unitState
	var cur unitState
	flush := func() {
		if cur != (unitState{}) {
			states = append(states, cur)
		}
		cur = unitState{}
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			flush()
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("systemctl show: unexpected line %q", line)
		}
		switch k {
		case "Id":
			cur.ID = v
		case "LoadState":
			cur.LoadState = v
		case "ActiveState":
			cur.ActiveState = v
		case "SubState":
			cur.SubState = v
		}
	}
	flush()
	return states, nil
}

// listener is one listening TCP socket of `ss -Htln`.
type listener struct {
	Addr string
	Port int
}

func (l listener) String() string { return net.JoinHostPort(l.Addr, strconv.Itoa(l.Port)) }

// parseListeners reads `ss -Htln`: State Recv-Q Send-Q Local Peer. The local
// address is "127.0.0.1:22", "[::]:22", "*:22" or "127.0.0.53%lo:53".
func parseListeners(out []byte) ([]listener, error) {
	var ls []listener
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 5 {
			return nil, fmt.Errorf("ss: unexpected line %q", sc.Text())
		}
		local := f[3]
		i := strings.LastIndex(local, ":")
		if i < 0 {
			return nil, fmt.Errorf("ss: no port in %q", local)
		}
		port, err := strconv.Atoi(local[i+1:])
		if err != nil {
			return nil, fmt.Errorf("ss: bad port in %q", local)
		}
		addr := strings.Trim(local[:i], "[]")
		if j := strings.IndexByte(addr, '%'); j >= 0 {
			addr = addr[:j]
		}
		ls = append(ls, listener{Addr: addr, Port: port})
	}
	return ls, nil
}

// hostListeners keeps the sockets that belong to a host reached at
// hostAddr, as sorted "addr:port" strings. Sockets on the host's own
// address and wildcard sockets always count. Loopback-only sockets count
// unless the host itself is reached on a loopback address: then the
// machine's network namespace is shared with others (the lab's hosts all
// live in the controller's), and loopback sockets are not the host's.
// When hostAddr is a name rather than an IP, every socket counts.
func hostListeners(ls []listener, hostAddr string) []string {
	hostIP := net.ParseIP(hostAddr)
	seen := map[string]bool{}
	var out []string
	for _, l := range ls {
		ip := net.ParseIP(l.Addr)
		keep := hostIP == nil || l.Addr == "*" || (ip != nil && ip.IsUnspecified()) || (ip != nil && ip.Equal(hostIP)) ||
			(ip != nil && ip.IsLoopback() && !hostIP.IsLoopback())
		if keep && !seen[l.String()] {
			seen[l.String()] = true
			out = append(out, l.String())
		}
	}
	sort.Strings(out)
	return out
}

// journalEntry is the part of a `journalctl -o json` record the gate uses.
type journalEntry struct {
	Time       time.Time `json:"time"`
	Priority   int       `json:"priority"`
	Unit       string    `json:"unit,omitempty"`
	Identifier string    `json:"identifier,omitempty"`
	Message    string    `json:"message"`
}

// parseJournal reads `journalctl -o json` output: one JSON object per line.
// MESSAGE is a string, or an array of bytes when it is not valid UTF-8.
func parseJournal(out []byte) ([]journalEntry, error) {
	var entries []journalEntry
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(line, &raw); err != nil {
			return nil, fmt.Errorf("journal line %d: %v", n, err)
		}
		var e journalEntry
		usec, err := strconv.ParseInt(jsonString(raw["__REALTIME_TIMESTAMP"]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("journal line %d: no __REALTIME_TIMESTAMP", n)
		}
		e.Time = time.UnixMicro(usec).UTC()
		e.Priority, _ = strconv.Atoi(jsonString(raw["PRIORITY"]))
		e.Unit = jsonString(raw["_SYSTEMD_UNIT"])
		e.Identifier = jsonString(raw["SYSLOG_IDENTIFIER"])
		if e.Identifier == "" {
			e.Identifier = jsonString(raw["_COMM"])
		}
		e.Message = jsonString(raw["MESSAGE"])
		entries = append(entries, e)
	}
	return entries, sc.Err()
}

// jsonString reads a journal field: a string, or an array of byte values.
func jsonString(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b []byte
	var ints []int
	if json.Unmarshal(raw, &ints) == nil {
		for _, v := range ints {
			b = append(b, byte(v))
		}
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return ""
}

// parseStartupTime reads `systemd-analyze time`: "Startup finished in
// 2.1s (kernel) + 5.3s (userspace) = 7.4s" on a machine, "Startup finished
// in 246ms (userspace)" in a container. The total is after "=", or the only
// term.
func parseStartupTime(out []byte) (time.Duration, error) {
	s := string(out)
	i := strings.Index(s, "Startup finished in ")
	if i < 0 {
		return 0, fmt.Errorf("systemd-analyze: no \"Startup finished\" line in %q", firstLine(s))
	}
	line := firstLine(s[i+len("Startup finished in "):])
	if _, total, ok := strings.Cut(line, "="); ok {
		return parseSystemdDuration(strings.TrimSpace(total))
	}
	term, _, _ := strings.Cut(line, "(")
	return parseSystemdDuration(strings.TrimSpace(term))
}

// parseSystemdDuration reads systemd's spans: "7.401s", "246ms",
// "1min 2.003s", "1h 2min 3.5s".
func parseSystemdDuration(s string) (time.Duration, error) {
	var total time.Duration
	for _, part := range strings.Fields(s) {
		num := strings.TrimRight(part, "abcdefghijklmnopqrstuvwxyzµ")
		unit := part[len(num):]
		v, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, fmt.Errorf("systemd-analyze: bad duration %q", s)
		}
		var u time.Duration
		switch unit {
		case "us", "µs":
			u = time.Microsecond
		case "ms":
			u = time.Millisecond
		case "s":
			u = time.Second
		case "min":
			u = time.Minute
		case "h":
			u = time.Hour
		default:
			return 0, fmt.Errorf("systemd-analyze: bad unit in %q", s)
		}
		total += time.Duration(v * float64(u))
	}
	if total == 0 && s != "0" {
		return 0, fmt.Errorf("systemd-analyze: empty duration %q", s)
	}
	return total, nil
}

// parseUptime reads the first field of /proc/uptime, in seconds.
func parseUptime(out []byte) (float64, error) {
	f := strings.Fields(string(out))
	if len(f) < 1 {
		return 0, fmt.Errorf("/proc/uptime: empty")
	}
	return strconv.ParseFloat(f[0], 64)
}

// parseStartTicks reads field 22 (starttime, in clock ticks after the
// kernel booted) of /proc/PID/stat. The command name in field 2 may hold
// spaces and parentheses, so fields are counted after its last ")".
func parseStartTicks(out []byte) (int64, error) {
	s := string(out)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/1/stat: no command name")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/1/stat: %d fields, want at least 22", len(f)+2)
	}
	return strconv.ParseInt(f[19], 10, 64)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}
