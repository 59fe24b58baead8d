package sqlite

import (
	"strings"
	"unicode/utf8"
)

// The stored lists of names and the label maps are JSON written by
// json.Marshal: compact, and almost always of plain strings. A fleet-wide
// read decodes one or more a host, so the plain forms are parsed here
// directly; anything else (an escape, a control character, invalid UTF-8,
// spaces, a value that is not a string) is left to encoding/json, which
// then gives exactly what it always gave.

// plainString returns the JSON string at the start of s (which starts with
// '"') and the rest after it, when it holds no escape and no control
// character; ok is false otherwise.
func plainString(s string) (str, rest string, ok bool) {
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return s[1:i], s[i+1:], true
		case c == '\\' || c < 0x20:
			return "", "", false
		}
	}
	return "", "", false
}

// plainStringList parses `["a","b"]`; ok is false when s is not in that
// plain form (the caller then decodes it with encoding/json).
func plainStringList(s string) (out []string, ok bool) {
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' || !utf8.ValidString(s) {
		return nil, false
	}
	body := s[1 : len(s)-1]
	if body == "" {
		return nil, true
	}
	out = make([]string, 0, strings.Count(body, `","`)+1)
	for {
		if body == "" || body[0] != '"' {
			return nil, false
		}
		str, rest, ok := plainString(body)
		if !ok {
			return nil, false
		}
		out = append(out, str)
		if rest == "" {
			return out, true
		}
		if rest[0] != ',' {
			return nil, false
		}
		body = rest[1:]
	}
}

// plainStringMap parses `{"k":"v","k2":"v2"}`; ok is false when s is not
// in that plain form. A repeated key keeps its last value, as
// encoding/json's does.
func plainStringMap(s string) (out map[string]string, ok bool) {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' || !utf8.ValidString(s) {
		return nil, false
	}
	body := s[1 : len(s)-1]
	if body == "" {
		return map[string]string{}, true
	}
	out = make(map[string]string, strings.Count(body, `":"`))
	for {
		if body == "" || body[0] != '"' {
			return nil, false
		}
		k, rest, ok := plainString(body)
		if !ok || rest == "" || rest[0] != ':' {
			return nil, false
		}
		rest = rest[1:]
		if rest == "" || rest[0] != '"' {
			return nil, false
		}
		v, rest, ok := plainString(rest)
		if !ok {
			return nil, false
		}
		out[k] = v
		if rest == "" {
			return out, true
		}
		if rest[0] != ',' {
			return nil, false
		}
		body = rest[1:]
	}
}
