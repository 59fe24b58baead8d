package depmap

import (
	"fmt"
	"strconv"
	"strings"
)

// Declared is one entry of a depends_on label: a host, and optionally the
// port or the service of it that is depended on.
type Declared struct {
	Host    string
	Port    int    // 0 when not given
	Service string // the unit ("postgresql.service"); "" when not given
}

// String gives the entry back as it is written in a label.
func (d Declared) String() string {
	switch {
	case d.Port != 0:
		return d.Host + ":" + strconv.Itoa(d.Port)
	case d.Service != "":
		return d.Host + ":" + ServiceName(d.Service)
	}
	return d.Host
}

// ParseDependsOn parses a depends_on label: a comma-separated list of HOST,
// HOST:PORT or HOST:SERVICE, where SERVICE is a unit name with or without
// ".service". Empty entries are skipped. It returns the good entries and
// an error for each bad one, naming it and what was expected; a bad entry
// does not spoil the others.
func ParseDependsOn(value string) ([]Declared, []error) {
	var out []Declared
	var errs []error
	for raw := range strings.SplitSeq(value, ",") {
		entry := strings.TrimSpace(raw)
		if entry == "" {
			continue
		}
		d, err := parseEntry(entry)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, d)
	}
	return out, errs
}

func parseEntry(entry string) (Declared, error) {
	host, rest, hasRest := strings.Cut(entry, ":")
	switch {
	case !validName(host):
		return Declared{}, fmt.Errorf("depends_on entry %q: %q is not a host name (want HOST, HOST:PORT or HOST:SERVICE)",
			entry, host)
	case !hasRest:
		return Declared{Host: host}, nil
	case rest == "":
		return Declared{}, fmt.Errorf("depends_on entry %q: nothing after ':' (want HOST:PORT or HOST:SERVICE)", entry)
	case strings.Contains(rest, ":"):
		return Declared{}, fmt.Errorf("depends_on entry %q: more than one ':' (want HOST, HOST:PORT or HOST:SERVICE)", entry)
	}
	if allDigits(rest) {
		port, err := strconv.Atoi(rest)
		if err != nil || port < 1 || port > 65535 {
			return Declared{}, fmt.Errorf("depends_on entry %q: port %s is out of range 1-65535", entry, rest)
		}
		return Declared{Host: host, Port: port}, nil
	}
	if !validName(rest) {
		return Declared{}, fmt.Errorf("depends_on entry %q: %q is not a service name (letters, digits, '-', '_', '.', '@')",
			entry, rest)
	}
	return Declared{Host: host, Service: Unit(rest)}, nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// validName reports whether s is a plausible host or unit name: not empty,
// no spaces or separators.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '-', r == '_', r == '.', r == '@':
		default:
			return false
		}
	}
	return true
}

// Unit returns the systemd unit of a service name: "postgresql" is
// "postgresql.service"; a name with a unit suffix is kept.
func Unit(name string) string {
	if name == "" || strings.HasSuffix(name, ".service") || strings.HasSuffix(name, ".socket") {
		return name
	}
	return name + ".service"
}

// ServiceName is a unit's short name, for display: "nginx.service" is
// "nginx".
func ServiceName(unit string) string {
	return strings.TrimSuffix(unit, ".service")
}
