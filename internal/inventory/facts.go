package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/capped"
)

// FactsSource is the Facts.Source of facts imported from Ansible.
const FactsSource = "ansible-facts"

// Imported is one host and its facts, as imported from Ansible.
type Imported struct {
	Host  patchpilot.Host
	Facts patchpilot.Facts
}

// HostFailure is a host for which Ansible reported no facts, because it was
// unreachable or the setup module failed.
type HostFailure struct {
	Host    string
	Status  string // "UNREACHABLE" or "FAILED"
	Message string // Ansible's msg
	At      string // file:line of the entry
}

// FactsResult is what a fact import found.
type FactsResult struct {
	Imported []Imported
	Failures []HostFailure
}

// ImportFacts imports facts that Ansible gathered. path may be a fact cache
// directory (the jsonfile cache plugin: one JSON file per host, named by
// inventory hostname, with keys prefixed "ansible_" or not), a file with the
// output of "ansible HOSTS -m setup" (blocks "host | SUCCESS => {...}", any
// number of hosts), or a JSON file {"ansible_facts": {...}}. Output of
// package_facts and service_facts for the same host, in the same file or
// directory, is merged with its setup facts.
//
// When Ansible reported some hosts UNREACHABLE or FAILED, ImportFacts returns
// the hosts it could import together with an EPARTIAL error naming the
// others; use ImportFactsFile to get the failures as data.
func ImportFacts(path string) ([]Imported, error) {
	res, err := ImportFactsFile(path)
	if err != nil {
		return nil, err
	}
	if len(res.Failures) > 0 {
		var parts []string
		for _, f := range res.Failures {
			parts = append(parts, fmt.Sprintf("%s (%s: %s)", f.Host, strings.ToLower(f.Status), f.Message))
		}
		return res.Imported, patchpilot.Errorf(patchpilot.EPARTIAL, "%s: no facts for %d host(s): %s",
			path, len(res.Failures), strings.Join(parts, "; ")).
			WithHint("fix the hosts' connectivity and gather their facts again")
	}
	return res.Imported, nil
}

// ImportFactsFile is ImportFacts with per-host failures returned as data.
func ImportFactsFile(path string) (*FactsResult, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, openError(path, err)
	}
	fc := &factCollector{facts: map[string]*hostFacts{}}
	if st.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, openError(path, err)
		}
		for _, e := range entries {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if err := fc.readFile(filepath.Join(path, e.Name()), strings.TrimSuffix(e.Name(), ".json")); err != nil {
				return nil, err
			}
		}
	} else if err := fc.readFile(path, ""); err != nil {
		return nil, err
	}
	if len(fc.order) == 0 && len(fc.failures) == 0 {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: no facts found", path).
			WithHint("point at a jsonfile fact cache directory or at the output of \"ansible HOSTS -m setup\"")
	}
	res := &FactsResult{Failures: fc.failures}
	for _, name := range fc.order {
		hf := fc.facts[name]
		imp, err := mapFacts(name, hf)
		if err != nil {
			return nil, err
		}
		if err := checkValueText(pos{file: hf.file}, "facts of host "+strconv.Quote(name), imp); err != nil {
			return nil, err
		}
		res.Imported = append(res.Imported, imp)
	}
	return res, nil
}

// hostFacts is the merged fact dictionary of one host and where it came from.
type hostFacts struct {
	facts  map[string]any
	prefix string // field path prefix for error messages: "ansible_facts." or ""
	file   string
	mtime  time.Time
}

type factCollector struct {
	facts    map[string]*hostFacts
	order    []string
	failures []HostFailure
}

// add merges one fact dictionary into a host's facts; later keys win.
func (fc *factCollector) add(name string, facts map[string]any, prefix, file string, mtime time.Time) {
	hf, ok := fc.facts[name]
	if !ok {
		hf = &hostFacts{facts: map[string]any{}, prefix: prefix, file: file, mtime: mtime}
		fc.facts[name] = hf
		fc.order = append(fc.order, name)
	}
	for k, v := range facts {
		hf.facts[k] = v
	}
}

// adhocHeader matches the line that starts one host's result in the
// output of an ad-hoc ansible command.
var adhocHeader = regexp.MustCompile(`(?m)^(\S+) \| (SUCCESS|CHANGED|FAILED!?|UNREACHABLE!?)(?: \| rc=-?\d+)? => `)

// readFile reads one fact file. name is the host name the file stands for
// when its content does not say (a cache file); "" means take it from the
// facts.
func (fc *factCollector) readFile(path, name string) error {
	f, err := os.Open(path)
	if err != nil {
		return openError(path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return openError(path, err)
	}
	data, err := capped.ReadAll(f, path, "fact file", MaxFactsBytes)
	if err != nil {
		if errors.Is(err, capped.ErrTooLarge) {
			return err
		}
		return openError(path, err)
	}
	return fc.parse(path, name, data, st.ModTime())
}

// parse reads fact file content: a JSON object, or ad-hoc command output.
func (fc *factCollector) parse(path, name string, data []byte, mtime time.Time) error {
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		start := len(data) - len(trimmed)
		obj, end, err := decodeJSONAt(path, data, start)
		if err != nil {
			return err
		}
		if rest := bytes.TrimSpace(data[end:]); len(rest) > 0 {
			l, c := lineCol(data, end+bytes.Index(data[end:], rest[:1]))
			return errAt(pos{file: path, line: l, col: c}, "unexpected data after the JSON object")
		}
		return fc.addObject(path, name, obj, mtime, 1)
	}
	locs := adhocHeader.FindAllSubmatchIndex(data, -1)
	if len(locs) == 0 {
		return errAt(pos{file: path, line: 1}, "expected a JSON object or the output of \"ansible HOST -m setup\" (\"host | SUCCESS => {...}\")")
	}
	next := 0
	for _, loc := range locs {
		if loc[0] < next {
			continue // a header-like line inside the previous JSON value
		}
		host, status := string(data[loc[2]:loc[3]]), strings.TrimSuffix(string(data[loc[4]:loc[5]]), "!")
		line, _ := lineCol(data, loc[0])
		obj, end, err := decodeJSONAt(path, data, loc[1])
		if err != nil {
			return err
		}
		next = end
		at := pos{file: path, line: line}
		if err := checkText(at, "host name", host); err != nil {
			return err
		}
		switch status {
		case "UNREACHABLE", "FAILED":
			msg, _ := obj["msg"].(string)
			fc.failures = append(fc.failures, HostFailure{Host: host, Status: status, Message: msg, At: at.String()})
			continue
		}
		if err := fc.addObject(path, host, obj, mtime, line); err != nil {
			return err
		}
	}
	return nil
}

// addObject adds a decoded JSON object: either a wrapper with an
// "ansible_facts" key (setup output, ansible --tree files) or a bare fact
// dictionary (a cache file).
func (fc *factCollector) addObject(path, name string, obj map[string]any, mtime time.Time, line int) error {
	facts, prefix := obj, ""
	if raw, ok := obj["ansible_facts"]; ok {
		m, ok := raw.(map[string]any)
		if !ok {
			return errAt(pos{file: path, line: line}, "ansible_facts: expected an object, got %s", jsonTypeName(raw))
		}
		facts, prefix = m, "ansible_facts."
	} else if _, failed := obj["failed"]; failed || obj["unreachable"] == true {
		msg, _ := obj["msg"].(string)
		fc.failures = append(fc.failures, HostFailure{Host: name, Status: "FAILED", Message: msg, At: pos{file: path, line: line}.String()})
		return nil
	}
	if name == "" {
		var err error
		if name, err = nameFromFacts(facts, prefix, path); err != nil {
			return err
		}
	}
	fc.add(name, facts, prefix, path, mtime)
	return nil
}

// nameFromFacts picks a host name for facts that came without one: the
// fully qualified name when it is qualified, else the short host name,
// else the file's name.
func nameFromFacts(facts map[string]any, prefix, path string) (string, error) {
	g := factGetter{facts: facts, prefix: prefix, file: path}
	fqdn, err := g.str("fqdn")
	if err != nil {
		return "", err
	}
	if strings.Contains(fqdn, ".") && !strings.HasPrefix(fqdn, "localhost") {
		return fqdn, nil
	}
	short, err := g.str("hostname")
	if err != nil {
		return "", err
	}
	if short == "" {
		short = fqdn
	}
	if short == "" {
		// A file of facts without a host name is named by its file, as
		// ansible --tree and fact caches name theirs.
		short = strings.TrimSuffix(filepath.Base(path), ".json")
	}
	return short, nil
}

// decodeJSONAt decodes one JSON object starting at offset start of data and
// returns it with the offset just past it. Syntax errors are reported at
// their file:line:column.
func decodeJSONAt(path string, data []byte, start int) (map[string]any, int, error) {
	dec := json.NewDecoder(bytes.NewReader(data[start:]))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		off := start + int(dec.InputOffset())
		var se *json.SyntaxError
		if errors.As(err, &se) && se.Offset > 0 {
			// Offset counts the bytes read, including the bad one.
			off = start + int(se.Offset) - 1
		}
		msg := err.Error()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			off, msg = len(data), "unexpected end of JSON input"
		}
		l, c := lineCol(data, off)
		return nil, 0, errAt(pos{file: path, line: l, col: c}, "invalid JSON: %s", msg)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		l, c := lineCol(data, start)
		return nil, 0, errAt(pos{file: path, line: l, col: c}, "expected a JSON object, got %s", jsonTypeName(v))
	}
	return obj, start + int(dec.InputOffset()), nil
}

// lineCol converts a byte offset into a 1-based line and column. The column
// counts bytes, as the offset does.
func lineCol(data []byte, off int) (int, int) {
	if off > len(data) {
		off = len(data)
	}
	if off < 0 {
		off = 0
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}

func jsonTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return "an unexpected value"
}
