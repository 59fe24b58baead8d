package inventory

import (
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/depmap"
)

// stringField reads a scalar as a string. Numbers are accepted and printed,
// because YAML reads an address like 10 or a user like 1000 as a number.
func stringField(v value, field string) (string, error) {
	switch x := v.v.(type) {
	case nil:
		return "", nil
	case string:
		if err := checkText(v.at, field, x); err != nil {
			return "", err
		}
		return x, nil
	case int64, float64:
		return scalarString(x), nil
	case vaulted:
		return "", errAt(v.at, "%s is encrypted with ansible-vault, which patchpilot cannot decrypt", field).
			WithHint("write this value in clear text; only secrets belong in a vault, and patchpilot needs none")
	}
	return "", errAt(v.at, "%s: expected a string, got %s", field, typeName(v.v))
}

// portField reads an SSH port: a number or a string of digits, 1-65535.
func portField(v value, field string) (int, error) {
	s := scalarString(v.v)
	if _, isVault := v.v.(vaulted); isVault {
		return 0, errAt(v.at, "%s is encrypted with ansible-vault, which patchpilot cannot decrypt", field)
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > 65535 {
		if s == "" {
			s = typeName(v.v)
		}
		return 0, errAt(v.at, "invalid port %q for %s: expected a number 1-65535", s, field)
	}
	return n, nil
}

// boolField reads a boolean the way Ansible does: yes/no, true/false, on/off
// and 1/0, in any case.
func boolField(v value, field string) (bool, error) {
	if b, ok := v.v.(bool); ok {
		return b, nil
	}
	switch strings.ToLower(strings.TrimSpace(scalarString(v.v))) {
	case "yes", "y", "true", "t", "on", "1":
		return true, nil
	case "no", "n", "false", "f", "off", "0", "":
		return false, nil
	}
	return false, errAt(v.at, "invalid boolean %q for %s: expected yes/no, true/false or 1/0", scalarString(v.v), field)
}

// criticalities are the values the risk model knows for LabelCriticality.
var criticalities = []string{"low", "medium", "high", "critical"}

// labelMapField reads a mapping of label names to scalar values.
func labelMapField(v value, field string) (map[string]string, error) {
	if v.v == nil {
		return nil, nil
	}
	m, ok := v.v.(map[string]any)
	if !ok {
		return nil, errAt(v.at, "%s: expected a mapping of label names to values, got %s", field, typeName(v.v))
	}
	out := make(map[string]string, len(m))
	for k, e := range m {
		s, err := stringField(value{v: e, at: v.at}, field+"."+k)
		if err != nil {
			return nil, err
		}
		if k == "" {
			return nil, errAt(v.at, "%s: empty label name", field)
		}
		if err := checkText(v.at, field+": label name", k); err != nil {
			return nil, err
		}
		out[k] = s
	}
	if err := checkLabels(out, v.at, field); err != nil {
		return nil, err
	}
	return out, nil
}

// checkLabels validates the labels whose values have meaning to patchpilot.
func checkLabels(labels map[string]string, at pos, field string) error {
	if c, ok := labels["criticality"]; ok && !contains(criticalities, strings.ToLower(c)) {
		return errAt(at, "invalid criticality %q in %s: expected one of %s", c, field, strings.Join(criticalities, ", "))
	}
	if d, ok := labels[patchpilot.LabelDependsOn]; ok {
		if _, errs := depmap.ParseDependsOn(d); len(errs) > 0 {
			return errAt(at, "%s: %v", field, errs[0]).
				WithHint("write depends_on as a comma-separated list of HOST, HOST:PORT or HOST:SERVICE, such as \"db1:5432, cache1:redis-server\"")
		}
	}
	return nil
}

// typeName names a value's type for error messages.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64, float64:
		return "a number"
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case vaulted:
		return "a vault-encrypted value"
	}
	return "an unexpected value"
}

// expandHome expands a leading ~ to home, the way a shell (and Ansible)
// would. An empty home leaves the path as written. ~user paths are left
// alone because resolving them would need the password database.
func expandHome(p, home string) string {
	if home == "" {
		return p
	}
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(home, p[2:])
	}
	return p
}

// jumpHostFromArgs finds a jump host in SSH arguments as Ansible passes
// them (ansible_ssh_common_args, ansible_ssh_extra_args): -J host,
// -o ProxyJump=host, -oProxyJump=host, -o "ProxyJump host", or the older
// -o ProxyCommand="ssh -W %h:%p [-q] [-p port] [user@]host".
func jumpHostFromArgs(args string) (string, error) {
	words, err := shellSplit(args)
	if err != nil {
		return "", err
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		next := func() string {
			if i+1 < len(words) {
				i++
				return words[i]
			}
			return ""
		}
		switch {
		case w == "-J":
			return next(), nil
		case strings.HasPrefix(w, "-J"):
			return w[2:], nil
		case w == "-o":
			if j := sshOptionJump(next()); j != "" {
				return j, nil
			}
		case strings.HasPrefix(w, "-o"):
			if j := sshOptionJump(w[2:]); j != "" {
				return j, nil
			}
		}
	}
	return "", nil
}

// sshOptionJump reads a jump host from one ssh -o option.
func sshOptionJump(opt string) string {
	key, val, ok := strings.Cut(opt, "=")
	if !ok {
		key, val, _ = strings.Cut(strings.TrimSpace(opt), " ")
	}
	key, val = strings.TrimSpace(key), strings.TrimSpace(val)
	switch strings.ToLower(key) {
	case "proxyjump":
		if strings.EqualFold(val, "none") {
			return ""
		}
		return val
	case "proxycommand":
		return proxyCommandJump(val)
	}
	return ""
}

// proxyCommandJump recognises "ssh -W %h:%p ... host" and returns the host,
// with its port as host:port when -p is given.
func proxyCommandJump(cmd string) string {
	words, err := shellSplit(cmd)
	if err != nil || len(words) == 0 || filepath.Base(words[0]) != "ssh" {
		return ""
	}
	hasW, port, host := false, "", ""
	for i := 1; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "-W":
			hasW = true
			i++
		case w == "-p" && i+1 < len(words):
			port = words[i+1]
			i++
		case w == "-o" || w == "-i" || w == "-l" || w == "-F":
			i++
		case strings.HasPrefix(w, "-"):
		default:
			host = w
		}
	}
	if !hasW || host == "" {
		return ""
	}
	if port != "" {
		return host + ":" + port
	}
	return host
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
