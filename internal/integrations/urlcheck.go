package integrations

import (
	"strings"
)

// URLUserinfoMessage is what a URL with a user or password is refused
// with: patchpilot.yaml and plans hold no secrets.
const URLUserinfoMessage = "a user or password in the URL is not allowed (patchpilot.yaml and plans hold no secrets, and a URL is printed and stored): remove user:password@"

// LiteralUserinfo reports whether the URL text raw names a user or a
// password literally ("http://user:pw@host/"). A userinfo written as a
// template ("{{.Vars.probe_user}}@...") is filled in per host when the
// URL is used and is not reported.
func LiteralUserinfo(raw string) bool {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return false
	}
	authority := cutOutsideActions(rest)
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return false
	}
	return !strings.Contains(authority[:at], "{{")
}

// cutOutsideActions is s up to its first '/', '?' or '#' outside a
// template action.
func cutOutsideActions(s string) string {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch {
		case strings.HasPrefix(s[i:], "{{"):
			depth++
			i++
		case strings.HasPrefix(s[i:], "}}") && depth > 0:
			depth--
			i++
		case depth == 0 && strings.ContainsRune("/?#", rune(s[i])):
			return s[:i]
		}
	}
	return s
}

// isURLKey reports whether a settings key holds a URL: url, or NAME_url.
func isURLKey(k string) bool { return k == "url" || strings.HasSuffix(k, "_url") }
