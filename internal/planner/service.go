package planner

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// ServiceSpec is what a per-service disruption budget names: a unit (its
// name without ".service"), a port, or both.
type ServiceSpec struct {
	Unit string
	Port int
}

// String renders the spec as plans write it: "postgresql", ":5432" or
// "postgresql:5432".
func (s ServiceSpec) String() string {
	if s.Port == 0 {
		if allDigits(s.Unit) && s.Unit != "" {
			// A bare number would read back as a port.
			return s.Unit + ".service"
		}
		return s.Unit
	}
	return s.Unit + ":" + strconv.Itoa(s.Port)
}

// unitName matches a systemd unit name without its type suffix: letters,
// digits and ":_.\\@-", not starting with '-' (systemd's own rule).
var unitName = regexp.MustCompile(`^[A-Za-z0-9_.:@\\][A-Za-z0-9_.:@\\-]*$`)

// allDigits reports whether s is a bare number.
func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// BarePortError is ParseServiceSpec's error for a service that is a bare
// number: a port written without its colon.
type BarePortError struct{ Port string }

func (e BarePortError) Error() string {
	return fmt.Sprintf("service %s is a bare number, not a unit name: for the port, write \":%s\"", e.Port, e.Port)
}

// Hint is what to write instead.
func (e BarePortError) Hint() string {
	return fmt.Sprintf("write service: \":%s\" for the hosts listening on port %s, or \"UNIT:%s\" for a unit on that port", e.Port, e.Port, e.Port)
}

// ParseServiceSpec reads a budget's service: "postgresql",
// "postgresql.service", ":5432" or "postgresql:5432".
func ParseServiceSpec(s string) (ServiceSpec, error) {
	var sp ServiceSpec
	unit, port := strings.TrimSpace(s), ""
	if allDigits(unit) {
		return sp, BarePortError{Port: unit}
	}
	if i := strings.LastIndex(unit, ":"); i >= 0 {
		unit, port = unit[:i], unit[i+1:]
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return sp, fmt.Errorf("invalid port %q in service %q: expected a TCP port from 1 to 65535", port, s)
		}
		sp.Port = n
	}
	for strings.HasSuffix(unit, ".service") {
		unit = strings.TrimSuffix(unit, ".service")
	}
	if unit != "" && !unitName.MatchString(unit) {
		return sp, fmt.Errorf("invalid service %q: expected a unit name (letters, digits, ':', '_', '.', '\\', '@' and '-', not starting with '-'), \":PORT\" or \"UNIT:PORT\"", s)
	}
	if i := strings.LastIndex(unit, ":"); i >= 0 && allDigits(unit[i+1:]) {
		return sp, fmt.Errorf("invalid service %q: it names two ports; expected \"UNIT\", \":PORT\" or \"UNIT:PORT\"", s)
	}
	if unit == "" && sp.Port == 0 {
		return sp, fmt.Errorf("empty service: expected \"UNIT\", \"UNIT.service\", \":PORT\" or \"UNIT:PORT\"")
	}
	sp.Unit = unit
	return sp, nil
}

// Covers reports whether a host serves the spec as its latest facts tell:
// a running service of that unit (listening on the port, when the spec
// names both), or a listening socket on the port when it names only a
// port. A host collected without depth is judged by its running services'
// unit names alone, so a spec with a unit still covers it (a budget then
// holds more hosts, never fewer); one naming only a port does not.
func (s ServiceSpec) Covers(v HostView) bool {
	if d := v.Depth; d != nil {
		for _, svc := range d.Services {
			if s.Unit != "" && strings.TrimSuffix(svc.Unit, ".service") != s.Unit {
				continue
			}
			if s.Port == 0 || listensOn(svc.Listens, s.Port) {
				return true
			}
		}
		if s.Unit == "" {
			return listensOn(d.Listeners, s.Port)
		}
		if len(d.Services) > 0 {
			return false
		}
	}
	if s.Unit == "" {
		return false
	}
	for _, name := range v.Services {
		if strings.TrimSuffix(name, ".service") == s.Unit {
			return true
		}
	}
	return false
}

func listensOn(socks []patchpilot.Socket, port int) bool {
	for _, so := range socks {
		if so.Port == port {
			return true
		}
	}
	return false
}
