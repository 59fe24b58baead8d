package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/sqlite"
)

// seedDeps stores web1 (nginx, a modified conffile, a held package),
// db1 (postgresql on 5432) and batch1, which declares it depends on db1;
// web1's latest collection saw its nginx connect to db1 and to an
// outside address.
func seedDeps(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.UpsertHosts(ctx, []patchpilot.Host{
		{Name: "web1", Address: "10.9.0.1"}, {Name: "db1", Address: "10.9.0.2"},
		{Name: "batch1", Address: "10.9.0.3", Labels: map[string]string{patchpilot.LabelDependsOn: "db1:postgresql, nosuch"}},
	}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, f := range []patchpilot.Facts{
		{Host: "db1", CollectedAt: now, Depth: &patchpilot.HostDepth{Services: []patchpilot.ServiceDetail{{
			Unit: "postgresql.service", Package: "postgresql-15", Version: "15.6-0+deb12u1",
			Listens: []patchpilot.Socket{{Port: 5432}, {Address: "::", Port: 5432}}}}}},
		{Host: "web1", CollectedAt: now.Add(-2 * time.Minute), Depth: &patchpilot.HostDepth{
			Services: []patchpilot.ServiceDetail{{Unit: "nginx.service", Package: "nginx-core", Version: "1.22.1-9",
				Listens: []patchpilot.Socket{{Port: 80}}}},
			Connections: []patchpilot.Connection{
				{Direction: patchpilot.DirectionOut, Service: "nginx.service", Process: "nginx", Peer: "10.9.0.2", Port: 5432},
				{Direction: patchpilot.DirectionOut, Service: "nginx.service", Process: "nginx", Peer: "203.0.113.7", Port: 443},
			},
			Modified: []patchpilot.ModifiedFile{{Package: "nginx-common", Path: "/etc/nginx/nginx.conf", Conffile: true, Checks: "??5??????"}},
			Held:     []string{"nginx-core"},
			Foreign:  []patchpilot.ForeignPackage{{Name: "acme-agent", Version: "2.1", Relation: patchpilot.ForeignNoCandidate}},
		}},
	} {
		if err := st.SaveFacts(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDeps(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	seedDeps(t, db)

	out := e.mustRun("deps", "--db", db)
	for _, want := range []string{
		"web1:nginx → db1:postgresql:5432 (observed, live, last seen 2m ago)",
		"web1:nginx → 203.0.113.7:443 (observed, live, last seen 2m ago)",
		"batch1 → db1:postgresql:5432 (declared, live)",
		"note: host batch1: depends_on names nosuch, which is not a host of the inventory",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("deps does not show %q:\n%s", want, out)
		}
	}

	g := decodeJSON[patchpilot.DependencyGraph](t, e.mustRun("deps", "db1", "--db", db, "-o", "json", "--max-age", "1d"))
	if len(g.Edges) != 2 || g.MaxAge != 24*time.Hour {
		t.Errorf("deps db1 -o json: %d edges over %s, want batch1's and web1's over 24h: %+v", len(g.Edges), g.MaxAge, g.Edges)
	}
	for _, e := range g.Edges {
		if e.To.Host != "db1" || e.To.Package != "postgresql-15" {
			t.Errorf("edge of db1's neighbourhood: %+v", e)
		}
	}

	r := e.runIn("deps", "nosuch", "--db", db)
	if r.code != 4 || !strings.Contains(r.stderr, `"nosuch" not found`) {
		t.Errorf("deps of an unknown host: exit %d, stderr %q; want 4 naming it", r.code, r.stderr)
	}
	r = e.runIn("deps", "--max-age", "soon", "--db", db)
	if r.code != 2 || !strings.Contains(r.stderr, `--max-age "soon"`) {
		t.Errorf("deps --max-age soon: exit %d, stderr %q; want 2 naming the flag", r.code, r.stderr)
	}
	r = e.runIn("deps", "-o", "svg", "--db", db)
	if r.code != 2 || !strings.Contains(r.stderr, "svg") {
		t.Errorf("deps -o svg: exit %d, stderr %q; want 2", r.code, r.stderr)
	}
	r = e.runIn("deps", "web1", "db1", "--db", db)
	if r.code != 2 {
		t.Errorf("deps with two hosts: exit %d, want 2", r.code)
	}

	dot := e.mustRun("deps", "--db", db, "-o", "dot")
	if err := checkDOT(dot); err != nil {
		t.Errorf("deps -o dot is not a DOT graph: %v\n%s", err, dot)
	}
	for _, want := range []string{`"web1:nginx" -> "db1:postgresql" [label="5432"]`, `"ext:203.0.113.7" [label="203.0.113.7", shape=box]`,
		`"batch1" -> "db1:postgresql" [label="5432", style=dotted]`} {
		if !strings.Contains(dot, want) {
			t.Errorf("deps -o dot lacks %s:\n%s", want, dot)
		}
	}
	renderDOT(t, dot)
}

func TestHostsShowDepth(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	seedDeps(t, db)
	out := e.mustRun("hosts", "show", "web1", "--db", db)
	for _, want := range []string{
		"nginx.service  nginx-core  1.22.1-9",
		"*:80",
		"/etc/nginx/nginx.conf  nginx-common  conffile changed ??5??????",
		"Held:", "nginx-core",
		"acme-agent", "no candidate",
		"DEPENDS ON", "web1:nginx → db1:postgresql:5432 (observed, live",
		"Depended on by:  nothing observed or declared",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("hosts show web1 lacks %q:\n%s", want, out)
		}
	}
	out = e.mustRun("hosts", "show", "db1", "--db", db)
	if !strings.Contains(out, "DEPENDED ON BY") || !strings.Contains(out, "batch1 → db1:postgresql:5432 (declared, live)") ||
		!strings.Contains(out, "15.6-0+deb12u1  *:5432\n") {
		t.Errorf("hosts show db1:\n%s", out)
	}
	d := decodeJSON[hostDetail](t, e.mustRun("hosts", "show", "db1", "--db", db, "-o", "json"))
	if d.Dependencies == nil || strings.Join(d.Dependencies.Dependents.Hosts, ",") != "batch1,web1" ||
		strings.Join(d.Dependencies.Dependents.Services, ",") != "web1:nginx" || len(d.Dependencies.DependedOnBy) != 2 {
		t.Errorf("hosts show db1 -o json dependencies = %+v", d.Dependencies)
	}
	if d.Facts == nil || d.Facts.Depth == nil || len(d.Facts.Depth.Services) != 1 {
		t.Errorf("hosts show db1 -o json facts.depth = %+v", d.Facts)
	}
	out = e.mustRun("hosts", "show", "batch1", "--db", db)
	if !strings.Contains(out, "batch1 → db1:postgresql:5432 (declared, live)") || !strings.Contains(out, "note: host batch1: depends_on names nosuch") {
		t.Errorf("hosts show batch1 (never collected):\n%s", out)
	}
}

func TestDepsDOTQuotesEveryIdentifier(t *testing.T) {
	odd := `we"b\1` + "\n{x}; -> [y]\x1b"
	g := patchpilot.DependencyGraph{Edges: []patchpilot.DependencyEdge{
		{From: patchpilot.DependencyEnd{Host: odd, Service: `a"b.service`}, To: patchpilot.DependencyEnd{Address: "fe80::1%eth0", Port: 443},
			Sources: []string{patchpilot.EdgeObserved}, State: patchpilot.EdgeStale},
		{From: patchpilot.DependencyEnd{Host: "digraph"}, To: patchpilot.DependencyEnd{Host: "subgraph", Package: `p"`, Version: `\`, Service: "x"},
			Sources: []string{patchpilot.EdgeDeclared}, State: patchpilot.EdgeLive},
	}}
	dot := depsDOT(g)
	if err := checkDOT(dot); err != nil {
		t.Fatalf("%v\n%s", err, dot)
	}
	if !strings.Contains(dot, `"we\"b\\1\n{x}; -> [y]\\x1b:a\"b"`) {
		t.Errorf("the odd host is not quoted as expected:\n%s", dot)
	}
	if strings.Count(dot, "\n") != strings.Count(dot, ";\n")+strings.Count(dot, "{\n")+strings.Count(dot, "}\n") {
		t.Errorf("a statement spans lines:\n%s", dot)
	}
	renderDOT(t, dot)
	if err := checkDOT(depsDOT(patchpilot.DependencyGraph{})); err != nil {
		t.Errorf("empty graph: %v", err)
	}
}

// renderDOT has Graphviz render the graph when it is installed.
func renderDOT(t *testing.T, dot string) {
	t.Helper()
	path, err := exec.LookPath("dot")
	if err != nil {
		return // checkDOT has checked the syntax
	}
	cmd := exec.Command(path, "-Tsvg")
	cmd.Stdin = strings.NewReader(dot)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "<svg") {
		t.Errorf("dot -Tsvg refused the graph: %v\n%s\n%s", err, out, dot)
	}
}

// checkDOT parses the subset of the DOT language depsDOT writes:
//
//	graph    = "digraph" ID "{" stmts "}"
//	stmt     = ID "=" ID ";" | ("node" | "edge") attrs ";"
//	         | "subgraph" ID "{" stmts "}" | ID [ "->" ID ] [ attrs ] ";"
//	attrs    = "[" [ ID "=" ID { "," ID "=" ID } ] "]"
//
// where an ID is a bare word of letters, digits and '_' not starting
// with a digit, a number, or a double-quoted string in which '"' appears
// only escaped. Keywords may not be bare IDs.
func checkDOT(s string) error {
	toks, err := dotTokens(s)
	if err != nil {
		return err
	}
	p := &dotParser{toks: toks}
	return p.graph()
}

type dotTok struct {
	kind byte // 'i' ID, 'k' keyword, or the punctuation itself ('-' for "->")
	text string
}

func dotTokens(s string) ([]dotTok, error) {
	keywords := map[string]bool{"digraph": true, "graph": true, "subgraph": true, "node": true, "edge": true, "strict": true}
	var toks []dotTok
	for i := 0; i < len(s); {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t' || ch == '\n':
			i++
		case strings.IndexByte("{}[];=,", ch) >= 0:
			toks = append(toks, dotTok{ch, string(ch)})
			i++
		case strings.HasPrefix(s[i:], "->"):
			toks = append(toks, dotTok{'-', "->"})
			i += 2
		case ch == '"':
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' {
					j++
				}
				if j < len(s) && s[j] == '\n' {
					return nil, fmt.Errorf("a line break inside the quoted ID at byte %d", i)
				}
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated quoted ID at byte %d", i)
			}
			toks = append(toks, dotTok{'i', s[i : j+1]})
			i = j + 1
		case ch == '_' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9':
			j := i
			for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			w := s[i:j]
			if w[0] >= '0' && w[0] <= '9' && strings.IndexFunc(w, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
				return nil, fmt.Errorf("bare ID %q starts with a digit", w)
			}
			kind := byte('i')
			if keywords[strings.ToLower(w)] {
				kind = 'k'
			}
			toks = append(toks, dotTok{kind, w})
			i = j
		default:
			return nil, fmt.Errorf("unexpected %q at byte %d", ch, i)
		}
	}
	return toks, nil
}

type dotParser struct {
	toks []dotTok
	pos  int
}

func (p *dotParser) peek() dotTok {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return dotTok{}
}

func (p *dotParser) want(kind byte, text string) error {
	t := p.peek()
	if t.kind != kind || (text != "" && t.text != text) {
		return fmt.Errorf("token %d: got %q, want %q", p.pos, t.text, text+string(kind))
	}
	p.pos++
	return nil
}

func (p *dotParser) graph() error {
	if err := p.want('k', "digraph"); err != nil {
		return err
	}
	if p.peek().kind == 'i' {
		p.pos++
	}
	if err := p.block(); err != nil {
		return err
	}
	if p.pos != len(p.toks) {
		return fmt.Errorf("tokens after the graph: %q", p.peek().text)
	}
	return nil
}

func (p *dotParser) block() error {
	if err := p.want('{', ""); err != nil {
		return err
	}
	for p.peek().kind != '}' {
		if p.pos >= len(p.toks) {
			return fmt.Errorf("unclosed block")
		}
		if err := p.stmt(); err != nil {
			return err
		}
	}
	return p.want('}', "")
}

func (p *dotParser) stmt() error {
	t := p.peek()
	switch {
	case t.kind == 'k' && t.text == "subgraph":
		p.pos++
		if err := p.want('i', ""); err != nil {
			return err
		}
		return p.block()
	case t.kind == 'k' && (t.text == "node" || t.text == "edge"):
		p.pos++
		if err := p.attrs(); err != nil {
			return err
		}
		return p.want(';', "")
	case t.kind == 'i':
		p.pos++
		switch p.peek().kind {
		case '=':
			p.pos++
			if err := p.want('i', ""); err != nil {
				return err
			}
			return p.want(';', "")
		case '-':
			p.pos++
			if err := p.want('i', ""); err != nil {
				return err
			}
		}
		if p.peek().kind == '[' {
			if err := p.attrs(); err != nil {
				return err
			}
		}
		return p.want(';', "")
	}
	return fmt.Errorf("token %d: %q starts no statement", p.pos, t.text)
}

func (p *dotParser) attrs() error {
	if err := p.want('[', ""); err != nil {
		return err
	}
	for first := true; p.peek().kind != ']'; first = false {
		if !first {
			if err := p.want(',', ""); err != nil {
				return err
			}
		}
		if err := p.want('i', ""); err != nil {
			return err
		}
		if err := p.want('=', ""); err != nil {
			return err
		}
		if err := p.want('i', ""); err != nil {
			return err
		}
	}
	return p.want(']', "")
}
