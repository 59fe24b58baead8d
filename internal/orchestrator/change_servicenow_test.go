package orchestrator

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
	"github.com/patchpilot/patchpilot/internal/integrations/servicenow"
)

// snowCAB is a ServiceNow instance with one change request whose approval
// the test's change board sets; it checks each request as the Table API
// would (basic authentication, JSON, the table and sys_id in the path).
type snowCAB struct {
	t        *testing.T
	mu       sync.Mutex
	approval string
	created  int
	reads    int
	onRead   func(n int) // called on each read of the change, unlocked
}

func (c *snowCAB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte("pp:pw")) || r.Header.Get("Accept") != "application/json" {
		w.WriteHeader(401)
		fmt.Fprint(w, `{"error":{"message":"User Not Authenticated"}}`)
		return
	}
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"result": v})
	}
	c.mu.Lock()
	row := map[string]string{"sys_id": "c0ffee", "number": "CHG0040001", "approval": c.approval, "state": "-3"}
	created := c.created
	c.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/now/table/change_request":
		if !strings.HasPrefix(r.URL.Query().Get("sysparm_query"), "correlation_id=patchpilot-r-") {
			c.t.Errorf("query %q", r.URL.Query().Get("sysparm_query"))
		}
		if created == 0 {
			reply([]any{})
			return
		}
		reply([]any{row})
	case r.Method == http.MethodPost && r.URL.Path == "/api/now/table/change_request":
		var body map[string]string
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.Header.Get("Content-Type") != "application/json" || body["type"] != "normal" {
			c.t.Errorf("create: %v %v", body, err)
		}
		c.mu.Lock()
		c.created++
		c.mu.Unlock()
		w.WriteHeader(201)
		reply(row)
	case r.Method == http.MethodGet && r.URL.Path == "/api/now/table/change_request/c0ffee":
		c.mu.Lock()
		c.reads++
		n, on := c.reads, c.onRead
		c.mu.Unlock()
		if on != nil {
			on(n)
		}
		c.mu.Lock()
		row["approval"] = c.approval
		c.mu.Unlock()
		reply(row)
	default:
		c.t.Errorf("unexpected %s %s", r.Method, r.URL)
		w.WriteHeader(404)
	}
}

func snowApprover(t *testing.T, e *env, url string) *servicenow.Change {
	t.Helper()
	var doc yaml.Node
	src := fmt.Sprintf("services:\n  - name: snow\n    type: servicenow\n    url: %s\n    user: pp\n    password: {env: SN_PW}\n    wait_for_approval: true\n", url)
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	cfg, err := integrations.Decode("pp.yaml", doc.Content[0], []string{servicenow.ChangeType})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := servicenow.NewChange(cfg.Items[0], func(string) string { return "pw" }, e.db)
	if err != nil {
		t.Fatal(err)
	}
	ch.Now = e.clock.Now
	return ch
}

// The change board approves in ServiceNow: the gated stage starts only
// then, and its hosts are untouched while it waits.
func TestGatedStageWaitsForServiceNowApproval(t *testing.T) {
	e := newEnv(t, hostsNamed(3))
	cab := &snowCAB{t: t, approval: "requested"}
	srv := httptest.NewServer(cab)
	defer srv.Close()
	id := e.start(gatedPlan)
	ch := snowApprover(t, e, srv.URL)
	e.e.ChangeApprovers = []patchpilot.ChangeApprover{ch}
	var touched []int
	cab.onRead = func(n int) {
		applied := 0
		for _, h := range e.stageHosts(id, "final") {
			applied += e.f.applies[h]
		}
		touched = append(touched, applied)
		if n == 3 {
			cab.mu.Lock()
			cab.approval = "approved"
			cab.mu.Unlock()
		}
	}
	e.run(id)
	if _, err := e.e.Approve(context.Background(), id, "", "user:ann"); err != nil {
		t.Fatal(err)
	}
	if got := e.run(id); got != patchpilot.RolloutSucceeded {
		t.Fatalf("state %s, want succeeded", got)
	}
	if cab.created != 1 || cab.reads != 3 {
		t.Errorf("created %d changes, read it %d times; want 1 and 3", cab.created, cab.reads)
	}
	for i, n := range touched {
		if n != 0 {
			t.Errorf("read %d: %d hosts of the gated stage were changed before the CAB approved", i+1, n)
		}
	}
	rec, err := e.db.ChangeRecord(context.Background(), "snow", id)
	if err != nil || rec.Key != "CHG0040001" || rec.ExternalID != "c0ffee" {
		t.Errorf("change record %+v, %v", rec, err)
	}
	evs := changeEvents(t, e, id)
	if len(evs) != 2 || evs[0] != "stage final waits for change CHG0040001 to be approved in snow" {
		t.Errorf("events %q", evs)
	}
}

func TestServiceNowRejectionHaltsTheRollout(t *testing.T) {
	e := newEnv(t, hostsNamed(3))
	cab := &snowCAB{t: t, approval: "requested"}
	cab.onRead = func(n int) {
		if n == 2 {
			cab.mu.Lock()
			cab.approval = "rejected"
			cab.mu.Unlock()
		}
	}
	srv := httptest.NewServer(cab)
	defer srv.Close()
	id := e.start(gatedPlan)
	e.e.ChangeApprovers = []patchpilot.ChangeApprover{snowApprover(t, e, srv.URL)}
	e.run(id)
	if _, err := e.e.Approve(context.Background(), id, "", "user:ann"); err != nil {
		t.Fatal(err)
	}
	if got := e.run(id); got != patchpilot.RolloutHalted {
		t.Fatalf("state %s, want halted", got)
	}
	r, _ := e.db.Rollout(context.Background(), id)
	if r.Reason != "stage final not started: change CHG0040001 was rejected in snow (approval rejected)" {
		t.Errorf("reason %q", r.Reason)
	}
	for _, h := range e.stageHosts(id, "final") {
		if e.f.applies[h] != 0 {
			t.Errorf("%s changed", h)
		}
	}
}
