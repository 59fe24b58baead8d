package servicenow

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/integrations/integrationstest"
)

func spec(t *testing.T, src string) integrations.Spec {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("services:\n  - "+strings.ReplaceAll(strings.TrimSpace(src), "\n", "\n    ")+"\n"), &doc); err != nil {
		t.Fatal(err)
	}
	c, err := integrations.Decode("pp.yaml", doc.Content[0], []string{ChangeType, CMDBType})
	if err != nil {
		t.Fatal(err)
	}
	return c.Items[0]
}

func env(k string) string {
	if k == "SN_PASSWORD" {
		return "pa55word"
	}
	return ""
}

// memRecords keeps change records in memory.
type memRecords = integrationstest.ChangeRecords

// fakeNow is a ServiceNow instance's Table API: records in tables, with
// each request checked as the instance would (basic authentication, the
// JSON Accept and Content-Type, the table and sys_id in the path) and
// logged with its query for the tests to compare.
type fakeNow struct {
	t      *testing.T
	mu     sync.Mutex
	log    []string
	tables map[string][]map[string]any
	next   int
	fail   map[string]func(w http.ResponseWriter)
	// onGet, when set, is called for each GET of a single record, before
	// it is answered (the tests change the approval there).
	onGet func(table, sysID string)
}

func newFakeNow(t *testing.T) (*fakeNow, *httptest.Server) {
	f := &fakeNow{t: t, tables: map[string][]map[string]any{}, fail: map[string]func(http.ResponseWriter){}, next: 1}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeNow) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

func (f *fakeNow) record(table string, i int) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tables[table][i]
}

func (f *fakeNow) set(table string, i int, k string, v any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tables[table][i][k] = v
}

func (f *fakeNow) add(table string, rec map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rec["sys_id"] = fmt.Sprintf("%032x", f.next)
	f.next++
	f.tables[table] = append(f.tables[table], rec)
}

// matches evaluates the sysparm_query forms patchpilot sends:
// field=value, field LIKE value, joined by ^, and ORDERBY (ignored).
func matches(rec map[string]any, query string) bool {
	for _, term := range strings.Split(query, "^") {
		switch {
		case term == "" || strings.HasPrefix(term, "ORDERBY"):
		case strings.Contains(term, "LIKE"):
			k, v, _ := strings.Cut(term, "LIKE")
			if !strings.Contains(fmt.Sprint(rec[k]), v) {
				return false
			}
		default:
			k, v, _ := strings.Cut(term, "=")
			if fmt.Sprint(rec[k]) != v {
				return false
			}
		}
	}
	return true
}

func (f *fakeNow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	line := r.Method + " " + r.URL.Path
	if r.URL.RawQuery != "" {
		line += "?" + r.URL.RawQuery
	}
	f.mu.Lock()
	f.log = append(f.log, line)
	fail, failing := f.fail[r.Method+" "+r.URL.Path]
	onGet := f.onGet
	f.mu.Unlock()
	if failing {
		fail(w)
		return
	}
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	if r.Header.Get("Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte("patchpilot:pa55word")) {
		reply(401, map[string]any{"error": map[string]string{"message": "User Not Authenticated", "detail": "Required to provide Auth information"}, "status": "failure"})
		return
	}
	if r.Header.Get("Accept") != "application/json" {
		f.t.Errorf("%s: Accept %q", line, r.Header.Get("Accept"))
	}
	var body map[string]any
	if r.Method == http.MethodPost || r.Method == http.MethodPatch {
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			f.t.Errorf("%s: Content-Type %q", line, ct)
		}
		data, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(data, &body); err != nil {
			f.t.Errorf("%s: body %s: %v", line, data, err)
		}
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/now/table/")
	if !ok {
		reply(400, map[string]any{"error": map[string]string{"message": "Requested URI does not represent any resource"}})
		return
	}
	table, sysID, _ := strings.Cut(rest, "/")
	q := r.URL.Query()
	project := func(rec map[string]any) map[string]any {
		fields := q.Get("sysparm_fields")
		if fields == "" {
			return rec
		}
		out := map[string]any{}
		for _, k := range strings.Split(fields, ",") {
			if v, ok := rec[k]; ok {
				out[k] = v
			} else {
				out[k] = ""
			}
		}
		return out
	}
	if sysID != "" && r.Method == http.MethodGet && onGet != nil {
		onGet(table, sysID)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && sysID == "":
		var out []map[string]any
		for _, rec := range f.tables[table] {
			if matches(rec, q.Get("sysparm_query")) {
				out = append(out, project(rec))
			}
		}
		off, limit := 0, 10000
		fmt.Sscan(q.Get("sysparm_offset"), &off)
		fmt.Sscan(q.Get("sysparm_limit"), &limit)
		w.Header().Set("X-Total-Count", fmt.Sprint(len(out)))
		out = out[min(off, len(out)):min(off+limit, len(out))]
		if out == nil {
			out = []map[string]any{}
		}
		reply(200, map[string]any{"result": out})
	case r.Method == http.MethodPost && sysID == "":
		rec := map[string]any{}
		for k, v := range body {
			rec[k] = v
		}
		rec["sys_id"] = fmt.Sprintf("%032x", f.next)
		if table == "change_request" {
			rec["number"] = fmt.Sprintf("CHG%07d", 30000+f.next)
			rec["approval"] = "not requested"
			rec["state"] = "-5"
		}
		f.next++
		f.tables[table] = append(f.tables[table], rec)
		reply(201, map[string]any{"result": rec})
	default:
		for _, rec := range f.tables[table] {
			if rec["sys_id"] != sysID {
				continue
			}
			switch r.Method {
			case http.MethodGet:
				reply(200, map[string]any{"result": project(rec)})
			case http.MethodPatch:
				for k, v := range body {
					if k == "work_notes" {
						f.tables["sys_journal_field"] = append(f.tables["sys_journal_field"], map[string]any{
							"sys_id": fmt.Sprintf("j%d", f.next), "element_id": sysID, "element": "work_notes", "value": v})
						f.next++
						continue
					}
					rec[k] = v
				}
				reply(200, map[string]any{"result": rec})
			default:
				reply(405, map[string]any{"error": map[string]string{"message": "Method not Supported"}})
			}
			return
		}
		reply(404, map[string]any{"error": map[string]string{"message": "No Record found", "detail": "Record doesn't exist or ACL restricts the record retrieval"}, "status": "failure"})
	}
}
