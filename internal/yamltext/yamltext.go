// Package yamltext explains the YAML parser's syntax errors in a person's
// words, for every decoder of patchpilot's YAML files (configuration,
// inventories, plans).
package yamltext

import "bytes"

// TabIndentedText is what a syntax error on a tab-indented line says
// instead of the parser's "found character that cannot start any token",
// which names no character (an editor shows a tab as spaces).
const TabIndentedText = "the line is indented with a tab; YAML indents with spaces"

// TabIndented reports whether line n (from 1) of data has a tab in its
// leading white space.
func TabIndented(data []byte, n int) bool {
	lines := bytes.Split(data, []byte("\n"))
	if n < 1 || n > len(lines) {
		return false
	}
	indent := lines[n-1][:len(lines[n-1])-len(bytes.TrimLeft(lines[n-1], " \t"))]
	return bytes.IndexByte(indent, '\t') >= 0
}
