package inventory

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// iniSection matches a section header as Ansible's INI plugin does:
// [group], [group:vars] or [group:children], optionally followed by a
// comment.
var iniSection = regexp.MustCompile(`^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$`)

// iniGroupName matches one line of a [group:children] section.
var iniGroupName = regexp.MustCompile(`^([^:\]\s]+)\s*(?:[#;].*)?$`)

// pendingDecl is a group that was referenced before it was declared: a
// [g:vars] section or a child in [p:children]. Ansible requires the group
// to be declared somewhere in the file; so does patchpilot.
type pendingDecl struct {
	state string // "vars" or "children"
	at    pos
	name  string
}

// parseINI parses an Ansible INI inventory into in. It follows Ansible's
// INI plugin: hosts before any section are ungrouped; host lines are split
// like a POSIX shell with # comments; variable values are read as Python
// literals where they are one (quoted strings, numbers, True/False, lists
// and dicts) and as strings otherwise.
func parseINI(in *inv, file string, data []byte) error {
	text := strings.TrimPrefix(string(data), "\ufeff")
	groupName, state := groupUngrouped, "hosts"
	pending := map[string]pendingDecl{}
	var pendingOrder []string
	declared := map[string]bool{groupAll: true, groupUngrouped: true}

	for i, raw := range strings.Split(text, "\n") {
		at := pos{file: file, line: i + 1}
		line := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			m := iniSection.FindStringSubmatch(line)
			if m == nil {
				return badSection(at, line)
			}
			groupName, state = m[1], m[2]
			if state == "" {
				state = "hosts"
			}
			if state != "hosts" && state != "vars" && state != "children" {
				return errAt(at, "section [%s:%s] has unknown type %q: expected [%s], [%s:vars] or [%s:children]",
					groupName, state, state, groupName, groupName, groupName)
			}
			in.group(groupName, at)
			if state != "vars" {
				declared[groupName] = true
			} else if !declared[groupName] {
				if _, ok := pending[groupName]; !ok {
					pending[groupName] = pendingDecl{state: "vars", at: at, name: groupName}
					pendingOrder = append(pendingOrder, groupName)
				}
			}
			continue
		}
		switch state {
		case "hosts":
			if err := parseINIHostLine(in, groupName, line, at); err != nil {
				return err
			}
		case "children":
			m := iniGroupName.FindStringSubmatch(line)
			if m == nil {
				return errAt(at, "expected a group name in [%s:children], got %q", groupName, line)
			}
			child := m[1]
			if err := in.addChild(groupName, child, at); err != nil {
				return err
			}
			if !declared[child] {
				if _, ok := pending[child]; !ok {
					pending[child] = pendingDecl{state: "children", at: at, name: groupName}
					pendingOrder = append(pendingOrder, child)
				}
			}
		case "vars":
			k, v, ok := strings.Cut(line, "=")
			k = strings.TrimSpace(k)
			if !ok || k == "" {
				return errAt(at, "expected key=value in [%s:vars], got %q", groupName, line)
			}
			in.group(groupName, at).vars[k] = value{v: parseINIValue(strings.TrimSpace(v)), at: at}
		}
	}
	for _, name := range pendingOrder {
		if declared[name] {
			continue
		}
		d := pending[name]
		if d.state == "vars" {
			return errAt(d.at, "section [%s:vars] is for group %q, which is never declared: expected a [%s] or [%s:children] section", name, name, name, name)
		}
		return errAt(d.at, "section [%s:children] names group %q, which is never declared: expected a [%s] or [%s:children] section", d.name, name, name, name)
	}
	return nil
}

// badSection explains why a line starting with [ is not a section header.
func badSection(at pos, line string) error {
	if !strings.Contains(line, "]") {
		return errAt(at, "unterminated section header %q: expected ] at the end", line)
	}
	return errAt(at, "invalid section header %q: expected [group], [group:vars] or [group:children] without spaces", line)
}

// parseINIHostLine parses "pattern key=value ..." and adds the hosts.
func parseINIHostLine(in *inv, groupName, line string, at pos) error {
	tokens, err := shellSplit(line)
	if err != nil {
		return errAt(at, "%v", err)
	}
	if len(tokens) == 0 {
		return nil // the whole line was a comment after leading text was quoted away
	}
	names, hv, err := parseHostPattern(tokens[0], at)
	if err != nil {
		return err
	}
	for _, t := range tokens[1:] {
		k, v, ok := strings.Cut(t, "=")
		if !ok || k == "" {
			return errAt(at, "expected key=value host variable for host %s, got %q", tokens[0], t)
		}
		hv[k] = value{v: parseINIValue(v), at: at}
	}
	for _, n := range names {
		if err := in.addHost(groupName, n, hv, at); err != nil {
			return err
		}
	}
	return nil
}

// shellSplit splits a line into words like Python's shlex in POSIX mode
// with # comments, which is what Ansible uses for INI host lines: quotes
// group words and are removed, a backslash escapes the next character, and
// an unquoted # ends the line.
func shellSplit(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '#':
			if inWord {
				words = append(words, cur.String())
			}
			return words, nil
		case c == '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("line ends with a lone backslash")
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated single quote: expected a closing '")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			closed := false
			for ; i < len(s); i++ {
				if s[i] == '"' {
					closed = true
					break
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`\"$`+"`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if !closed {
				return nil, fmt.Errorf("unterminated double quote: expected a closing \"")
			}
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// parseINIValue reads a value the way Ansible's INI plugin does with
// Python's ast.literal_eval: a quoted string loses its quotes, True and
// False are booleans, numbers are numbers, [..] and {..} are lists and
// dicts; anything else (yes, no, paths, names) stays a string.
func parseINIValue(s string) any {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		if u, ok := unquotePython(s); ok {
			return u
		}
		return s
	}
	switch s {
	case "True":
		return true
	case "False":
		return false
	case "None":
		return nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && strings.ContainsAny(s, ".eE") && !strings.ContainsAny(s, "nN") {
		return f
	}
	if len(s) >= 2 && (s[0] == '{' && s[len(s)-1] == '}' || s[0] == '[' && s[len(s)-1] == ']') {
		var out any
		if err := yaml.Unmarshal([]byte(s), &out); err == nil {
			return normalizeYAML(out)
		}
	}
	return s
}

// unquotePython unquotes a Python string literal with simple escapes.
func unquotePython(s string) (string, bool) {
	q := s[0]
	body := s[1 : len(s)-1]
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c == q {
			return "", false // an unescaped quote inside: not one literal
		}
		if c != '\\' || i+1 == len(body) {
			b.WriteByte(c)
			continue
		}
		i++
		switch body[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case '\\', '\'', '"':
			b.WriteByte(body[i])
		default:
			b.WriteByte('\\')
			b.WriteByte(body[i])
		}
	}
	return b.String(), true
}

// normalizeYAML converts what yaml.Unmarshal gives for an interface value
// into the value types the resolver knows: map[string]any, []any, string,
// bool, int64, float64 and nil.
func normalizeYAML(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalizeYAML(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = normalizeYAML(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeYAML(e)
		}
		return out
	case int:
		return int64(x)
	case uint64:
		return float64(x)
	}
	return v
}
