package lab

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// aptSourcesRoot is the controller's apt configuration directory.
const aptSourcesRoot = "/etc/apt"

// aptSource is one "deb" source: a URI with its suites and components.
type aptSource struct {
	URI        string
	Suites     []string
	Components []string
}

// FindMirror returns the first URI in the machine's apt sources (sources.list,
// then sources.list.d/*.list and *.sources in name order) that serves suite's
// main component.
func FindMirror(suite string) (string, error) {
	return findMirror(aptSourcesRoot, suite)
}

func findMirror(root, suite string) (string, error) {
	files := []string{filepath.Join(root, "sources.list")}
	ents, _ := os.ReadDir(filepath.Join(root, "sources.list.d"))
	var names []string
	for _, e := range ents {
		if n := e.Name(); strings.HasSuffix(n, ".list") || strings.HasSuffix(n, ".sources") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		files = append(files, filepath.Join(root, "sources.list.d", n))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var srcs []aptSource
		if strings.HasSuffix(f, ".sources") {
			srcs = parseDeb822Sources(string(b))
		} else {
			srcs = parseOneLineSources(string(b))
		}
		for _, s := range srcs {
			if contains(s.Suites, suite) && contains(s.Components, "main") {
				return s.URI, nil
			}
		}
	}
	return "", patchpilot.Errorf(patchpilot.EUNAVAILABLE, "no apt source for Debian %s main in %s", suite, root).
		WithHint("add one to /etc/apt/sources.list, or name a mirror with --mirror")
}

// parseOneLineSources parses the one-line format: "deb [options] URI suite
// component...". deb-src lines and comments are skipped.
func parseOneLineSources(text string) []aptSource {
	var out []aptSource
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") { // options, possibly spread over fields
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) == 0 {
				continue
			}
			f = f[1:]
		}
		if len(f) < 2 {
			continue
		}
		out = append(out, aptSource{URI: f[0], Suites: []string{f[1]}, Components: f[2:]})
	}
	return out
}

// parseDeb822Sources parses the deb822 format: stanzas of "Field: value"
// separated by blank lines. Disabled stanzas (Enabled: no) are skipped.
func parseDeb822Sources(text string) []aptSource {
	var out []aptSource
	for _, stanza := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		fields := map[string]string{}
		last := ""
		for _, line := range strings.Split(stanza, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") || strings.TrimSpace(line) == "" {
				continue
			}
			if (line[0] == ' ' || line[0] == '\t') && last != "" {
				fields[last] += " " + strings.TrimSpace(line)
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			last = strings.ToLower(strings.TrimSpace(k))
			fields[last] = strings.TrimSpace(v)
		}
		if !contains(strings.Fields(fields["types"]), "deb") || strings.EqualFold(fields["enabled"], "no") {
			continue
		}
		for _, uri := range strings.Fields(fields["uris"]) {
			out = append(out, aptSource{URI: uri, Suites: strings.Fields(fields["suites"]), Components: strings.Fields(fields["components"])})
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
