package inventory

import (
	"fmt"
	"strconv"
	"strings"
)

// maxRangeHosts bounds how many hosts one host pattern may expand to, so
// that a typo such as web[1:10000000] fails fast instead of eating memory.
const maxRangeHosts = 100000

// asciiLetters is the alphabet Ansible uses for alphabetic ranges: a-z then
// A-Z, so [a:C] is valid and [C:a] is not.
const asciiLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// splitHostPort splits "name:port" as Ansible's INI and YAML inventories
// allow it. A bracketed IPv6 address may carry a port ("[::1]:2222"); an
// unbracketed address with several colons is an IPv6 literal without one.
// Colons inside range brackets (web[1:3]) do not count.
func splitHostPort(p string) (host string, port string, hasPort bool) {
	if strings.HasPrefix(p, "[") {
		// An IPv6 literal has "::" or all seven colons; a range has at
		// most two, so the two cannot be confused.
		if i := strings.Index(p, "]"); i > 0 && (strings.Contains(p[1:i], "::") || strings.Count(p[1:i], ":") >= 7) {
			addr := p[1:i]
			rest := p[i+1:]
			if strings.HasPrefix(rest, ":") {
				return addr, rest[1:], true
			}
			if rest == "" {
				return addr, "", false
			}
		}
	}
	depth, colons, last := 0, 0, -1
	for i, r := range p {
		switch r {
		case '[':
			depth++
		case ']':
			depth--
		case ':':
			if depth == 0 {
				colons++
				last = i
			}
		}
	}
	if colons == 1 {
		return p[:last], p[last+1:], true
	}
	return p, "", false
}

// expandHostPattern expands Ansible host ranges: web[01:03] gives web01,
// web02 and web03 (a leading zero fixes the width), db-[a:c] gives db-a,
// db-b and db-c, and [1:9:2] steps by two. Several ranges in one name
// multiply. A pattern without brackets is returned as is.
func expandHostPattern(p string) ([]string, error) {
	if p == "" {
		return nil, fmt.Errorf("empty host name")
	}
	open := strings.IndexByte(p, '[')
	if open < 0 {
		if strings.IndexByte(p, ']') >= 0 {
			return nil, fmt.Errorf("bad range pattern %q: ] without [", p)
		}
		return []string{p}, nil
	}
	end := strings.IndexByte(p[open:], ']')
	if end < 0 {
		return nil, fmt.Errorf("bad range pattern %q: [ without closing ]", p)
	}
	end += open
	head, spec, tail := p[:open], p[open+1:end], p[end+1:]
	items, err := expandRange(p, spec)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, it := range items {
		rest, err := expandHostPattern(head + it + tail)
		if err != nil {
			return nil, err
		}
		out = append(out, rest...)
		if len(out) > maxRangeHosts {
			return nil, fmt.Errorf("bad range pattern %q: expands to more than %d hosts", p, maxRangeHosts)
		}
	}
	return out, nil
}

// expandRange expands the inside of one [begin:end:step] bracket.
func expandRange(p, spec string) ([]string, error) {
	bounds := strings.Split(spec, ":")
	if len(bounds) != 2 && len(bounds) != 3 {
		return nil, fmt.Errorf("bad range pattern %q: expected [begin:end] or [begin:end:step]", p)
	}
	beg, end := bounds[0], bounds[1]
	step := 1
	if len(bounds) == 3 {
		n, err := strconv.Atoi(bounds[2])
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad range pattern %q: step %q must be a positive number", p, bounds[2])
		}
		step = n
	}
	if beg == "" {
		beg = "0"
	}
	if end == "" {
		return nil, fmt.Errorf("bad range pattern %q: range has no end", p)
	}
	bi, ei := strings.Index(asciiLetters, beg), strings.Index(asciiLetters, end)
	if len(beg) == 1 && len(end) == 1 && bi >= 0 && ei >= 0 {
		if bi > ei {
			return nil, fmt.Errorf("bad range pattern %q: begin %q comes after end %q", p, beg, end)
		}
		var out []string
		for i := bi; i <= ei; i += step {
			out = append(out, asciiLetters[i:i+1])
		}
		return out, nil
	}
	b, err1 := strconv.Atoi(beg)
	e, err2 := strconv.Atoi(end)
	if err1 != nil || err2 != nil || b < 0 || e < 0 {
		return nil, fmt.Errorf("bad range pattern %q: expected two numbers or two letters, got %q and %q", p, beg, end)
	}
	if b > e {
		return nil, fmt.Errorf("bad range pattern %q: begin %d is greater than end %d", p, b, e)
	}
	if (e-b)/step+1 > maxRangeHosts {
		return nil, fmt.Errorf("bad range pattern %q: expands to more than %d hosts", p, maxRangeHosts)
	}
	width := 0
	if len(beg) > 1 && beg[0] == '0' {
		if len(beg) != len(end) {
			return nil, fmt.Errorf("bad range pattern %q: zero-padded begin %q and end %q must have the same width", p, beg, end)
		}
		width = len(beg)
	}
	var out []string
	for i := b; i <= e; i += step {
		out = append(out, fmt.Sprintf("%0*d", width, i))
	}
	return out, nil
}

// parseHostPattern turns one host pattern with an optional port into host
// names and the port variable it implies, if any.
func parseHostPattern(p string, at pos) ([]string, vars, error) {
	name, port, hasPort := splitHostPort(p)
	extra := vars{}
	if hasPort {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return nil, nil, errAt(at, "invalid port %q in host pattern %q: expected a number 1-65535", port, p)
		}
		extra["ansible_port"] = value{v: int64(n), at: at}
	}
	names, err := expandHostPattern(name)
	if err != nil {
		return nil, nil, errAt(at, "%v", err)
	}
	return names, extra, nil
}
