package integrations

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"unicode"

	"github.com/patchpilot/patchpilot"
)

// HostSource is an inventory source: a service that says which hosts
// there are (a CMDB, an HTTP endpoint). Collection takes the hosts from it
// and the facts from the hosts themselves, over SSH.
type HostSource interface {
	// Name is the integration's name.
	Name() string
	// Hosts reads the hosts, each with a name and labels; a host whose
	// record is unusable is an error naming it.
	Hosts(ctx context.Context) ([]patchpilot.Host, error)
}

// CheckHosts is the one check of the hosts an inventory source read,
// applied before anything is stored, with the rules file inventories and
// the SSH target follow: a name without spaces, control characters, "*",
// ",", "[" or a leading "-"; a user without spaces or a leading "-"; an
// address (empty: the name) that is a host name or an IP address without
// a leading "-"; a port of 1 to 65535 (0: absent, 22); label names not
// empty; no name twice. record names the i-th record in the errors, such
// as "hosts[3]".
func CheckHosts(hosts []patchpilot.Host, record func(i int) string) error {
	seen := make(map[string]int, len(hosts))
	for i, h := range hosts {
		if err := CheckHost(h); err != nil {
			if h.Name != "" && !strings.HasPrefix(err.Error(), "name:") {
				return fmt.Errorf("%s (%s): %v", record(i), h.Name, err)
			}
			return fmt.Errorf("%s: %v", record(i), err)
		}
		if at, dup := seen[h.Name]; dup {
			return fmt.Errorf("%s: name: %q is already %s", record(i), h.Name, record(at))
		}
		seen[h.Name] = i
	}
	return nil
}

// CheckHost checks one host of an inventory source (see CheckHosts); the
// error starts with the field.
func CheckHost(h patchpilot.Host) error {
	switch {
	case h.Name == "":
		return errors.New("name: the host name is missing")
	case badText(h.Name) || strings.ContainsAny(h.Name, "*,[") || strings.HasPrefix(h.Name, "-"):
		return fmt.Errorf(`name: expected a host name without spaces, "*", ",", "[" or a leading "-", got %q`, h.Name)
	}
	if h.User != "" && (badText(h.User) || strings.HasPrefix(h.User, "-")) {
		return fmt.Errorf(`user: expected a user name without spaces or a leading "-", got %q`, h.User)
	}
	if h.Address != "" && !hostAddress(h.Address) {
		return fmt.Errorf(`address: expected a host name or IP address (without a leading "-"), got %q`, h.Address)
	}
	if h.Port < 0 || h.Port > 65535 {
		return fmt.Errorf("port: expected 1 to 65535, got %d", h.Port)
	}
	for k := range h.Labels {
		if k == "" {
			return errors.New("labels: a label has an empty name")
		}
	}
	return nil
}

// badText reports a space or a control character.
func badText(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0
}

// hostAddress reports a DNS name (letters, digits, "-", "_" and ".", not
// starting with "-") or an IP address.
func hostAddress(s string) bool {
	if net.ParseIP(s) != nil {
		return true
	}
	if strings.HasPrefix(s, "-") || len(s) > 253 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}
