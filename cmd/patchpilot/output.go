package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	"golang.org/x/term"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

type format string

const (
	formatTable format = "table"
	formatJSON  format = "json"
	formatYAML  format = "yaml"
)

func parseFormat(s string) (format, error) {
	switch f := format(strings.ToLower(s)); f {
	case formatTable, formatJSON, formatYAML:
		return f, nil
	}
	msg := fmt.Sprintf("--output %q: expected table, json or yaml", s)
	for _, f := range []format{formatTable, formatJSON, formatYAML} {
		// Close to a format, and starting as it does: "jsno", "yml".
		if l := strings.ToLower(s); l != "" && l[0] == f[0] && app.EditDistance(l, string(f)) <= 2 {
			msg += "; did you mean " + string(f) + "?"
			break
		}
	}
	err := patchpilot.Errorf(patchpilot.EINVALID, "%s", msg)
	if strings.ContainsAny(s, "./") {
		// Before -o meant one thing, plan and history export took it
		// as a file name.
		return "", err.WithHint("-o is the output format; write to a file with --out FILE")
	}
	return "", err
}

// note writes a line meant for a person about what a command did: on
// stdout with the table format, on stderr with json or yaml, so that
// standard output holds nothing but the document.
func (c *cli) note(format string, args ...any) {
	w := c.stdout
	if f, err := parseFormat(c.output); err != nil || f != formatTable {
		w = c.stderr
	}
	fmt.Fprintf(escapingWriter{w}, format, args...)
}

// render writes v as JSON or YAML, or calls table with a tabwriter for the
// table format. JSON and YAML share the JSON field names, which are the
// documented contract.
func (c *cli) render(v any, table func(w io.Writer)) error {
	f, err := parseFormat(c.output)
	if err != nil {
		return err
	}
	switch f {
	case formatJSON:
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case formatYAML:
		return writeYAML(c.stdout, v)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	// Escaped before the tabwriter measures the cells, so that columns
	// stay aligned.
	table(escapingWriter{tw})
	return tw.Flush()
}

// escapingWriter passes text on with its control characters escaped (see
// escapeControls), keeping tabs and newlines: the cell and row separators
// of a table. Every fmt.Fprint call is one Write, so a character is never
// split between two.
type escapingWriter struct{ w io.Writer }

func (e escapingWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(e.w, escapeControls(string(p), true)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// escapeControls writes the control characters of s as Go escapes (ESC as
// \x1b, CR as \r, a C1 control as \u009b), and so do bidirectional
// overrides and bytes that are not UTF-8. Host names, labels, reasons and
// remote output come from outside: printed raw, an escape sequence among
// them could rewrite the terminal, hide a line or fake one. With
// keepLayout, tabs and newlines are kept as they are.
func escapeControls(s string, keepLayout bool) string {
	clean := true
	for _, r := range s {
		if needsEscape(r, keepLayout) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case needsEscape(r, keepLayout):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(r rune, keepLayout bool) bool {
	if keepLayout && (r == '\t' || r == '\n') {
		return false
	}
	return r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}

// writeYAML converts through JSON so that YAML keys are the JSON field names,
// in the same order. JSON is YAML, so the YAML decoder reads it into a node
// tree; clearing the flow style makes the output block-style YAML.
func writeYAML(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var node yaml.Node
	if err := yaml.Unmarshal(data, &node); err != nil {
		return err
	}
	clearStyle(&node)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&node); err != nil {
		return err
	}
	return enc.Close()
}

func clearStyle(n *yaml.Node) {
	if n.Kind != yaml.ScalarNode {
		n.Style = 0
	}
	if n.Kind == yaml.ScalarNode && n.Style == yaml.DoubleQuotedStyle && n.Tag == "!!str" {
		// Quote only where YAML needs it (e.g. "yes", "1.0").
		n.Style = 0
	}
	for _, child := range n.Content {
		clearStyle(child)
	}
}

// isTerminal reports whether w is a terminal, for progress display.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress reports per-item progress: an updating line on a terminal,
// plain lines otherwise (logs, CI, pipes).
type progress struct {
	w     io.Writer
	tty   bool
	total int
	done  int
}

func newProgress(w io.Writer, total int) *progress {
	return &progress{w: w, tty: isTerminal(w), total: total}
}

// step records one finished item; line describes it.
func (p *progress) step(line string, failed bool) {
	p.done++
	line = escapeControls(line, false)
	if !p.tty {
		fmt.Fprintf(p.w, "[%d/%d] %s\n", p.done, p.total, line)
		return
	}
	if failed {
		// Failures stay on screen; the progress line is redrawn below.
		fmt.Fprintf(p.w, "\r\033[K%s\n", line)
	}
	fmt.Fprintf(p.w, "\r\033[K[%d/%d] %s", p.done, p.total, truncate(line, 70))
	if p.done == p.total {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// truncate shortens s to at most n bytes, ending in "...", without
// splitting a UTF-8 character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// dash renders empty values as "-" in tables.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// labelsText lists labels for a table as "k=v; k=v" in key order: values
// are comma lists ("compliance=pci,hipaa", "depends_on=a, b"), so a comma
// cannot separate labels. A value that would read ambiguously (a ";", a
// quote, or leading or trailing space) is quoted. "-" when there are none.
func labelsText(labels map[string]string) string {
	keys := slices.Sorted(maps.Keys(labels))
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := labels[k]
		if strings.ContainsAny(v, ";\"") || strings.TrimSpace(v) != v {
			v = strconv.Quote(v)
		}
		parts[i] = k + "=" + v
	}
	return dash(strings.Join(parts, "; "))
}
