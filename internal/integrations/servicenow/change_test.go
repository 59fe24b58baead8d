package servicenow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
)

var now = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC) // a Monday

func rollout() *patchpilot.Rollout {
	return &patchpilot.Rollout{ID: "r-20260302-100000-ab12", State: patchpilot.RolloutRunning, CreatedBy: "user:ann",
		Plan: patchpilot.Plan{Name: "openssl-march", Patch: patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: "openssl", Version: "3.0.15-1"}}},
			Targets: patchpilot.TargetSelector{Selector: "env=prod"},
			Stages:  []patchpilot.Stage{{Name: "canary"}, {Name: "wave_1", Parallel: 2, Approval: patchpilot.ApprovalRequired, ApprovalReason: "risk high"}},
			Windows: []patchpilot.MaintenanceWindow{{Days: []time.Weekday{time.Tuesday}, Start: 22 * 60, End: 2 * 60}}},
		Stages: []patchpilot.StageRun{{Name: "canary", Hosts: []string{"web1"}}, {Name: "wave_1", Hosts: []string{"web2", "web3"}}}}
}

func note(id int64, topic patchpilot.Topic, r *patchpilot.Rollout, summary string) patchpilot.Notification {
	return patchpilot.Notification{Event: patchpilot.Event{ID: id}, Topic: topic, Rollout: r, Summary: summary}
}

const changeSpec = `name: snow
type: servicenow
url: %s
user: patchpilot
password: {env: SN_PASSWORD}
category: Software
assignment_group: Linux Ops
risk: "3"
wait_for_approval: true
poll_interval: 30s`

func newChange(t *testing.T, u string, recs patchpilot.ChangeRecordStore) *Change {
	t.Helper()
	ch, err := NewChange(spec(t, fmt.Sprintf(changeSpec, u)), env, recs)
	if err != nil {
		t.Fatal(err)
	}
	ch.Now = func() time.Time { return now }
	return ch
}

func query(kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q.Encode()
}

func TestChangeRequestLifecycle(t *testing.T) {
	f, srv := newFakeNow(t)
	recs := &memRecords{}
	ch := newChange(t, srv.URL, recs)
	ctx := context.Background()
	r := rollout()
	if err := ch.Notify(ctx, note(1, patchpilot.TopicRolloutStarted, r, "started")); err != nil {
		t.Fatal(err)
	}
	cr := f.record("change_request", 0)
	want := map[string]string{
		"short_description":   "Patch 3 hosts: openssl=3.0.15-1 (patchpilot r-20260302-100000-ab12)",
		"type":                "normal",
		"correlation_id":      "patchpilot-r-20260302-100000-ab12",
		"correlation_display": "patchpilot",
		"start_date":          "2026-03-03 22:00:00",
		"end_date":            "2026-03-04 02:00:00",
		"category":            "Software",
		"assignment_group":    "Linux Ops",
		"risk":                "3",
	}
	for k, v := range want {
		if cr[k] != v {
			t.Errorf("%s = %v, want %q", k, cr[k], v)
		}
	}
	if _, ok := cr["impact"]; ok {
		t.Error("impact sent although not configured")
	}
	for _, s := range []string{"Packages: openssl=3.0.15-1", "- wave_1: 2 hosts, 2 at once, needs approval (risk high)", "Maintenance windows: Tue 22:00-02:00 UTC"} {
		if !strings.Contains(fmt.Sprint(cr["description"]), s) {
			t.Errorf("description lacks %q:\n%s", s, cr["description"])
		}
	}
	sysID := fmt.Sprint(cr["sys_id"])
	rec, err := recs.ChangeRecord(ctx, "snow", r.ID)
	if err != nil || rec.ExternalID != sysID || rec.Key != "CHG0030001" {
		t.Fatalf("record %+v, %v", rec, err)
	}
	for range 2 { // the second is a retry
		if err := ch.Notify(ctx, note(2, patchpilot.TopicStageDone, r, "stage canary succeeded")); err != nil {
			t.Fatal(err)
		}
	}
	r.State = patchpilot.RolloutHalted
	r.Reason = "stage wave_1: 2 of 2 hosts failed"
	for range 2 {
		if err := ch.Notify(ctx, note(3, patchpilot.TopicRolloutFinished, r, "halted")); err != nil {
			t.Fatal(err)
		}
	}
	journal := "element_id=" + sysID + "^element=work_notes^valueLIKE(patchpilot event 2)"
	wantLog := []string{
		"GET /api/now/table/change_request?" + query("sysparm_fields", "sys_id,number,approval,state", "sysparm_limit", "1", "sysparm_query", "correlation_id=patchpilot-r-20260302-100000-ab12"),
		"POST /api/now/table/change_request",
		"GET /api/now/table/sys_journal_field?" + query("sysparm_fields", "sys_id", "sysparm_limit", "1", "sysparm_query", journal),
		"PATCH /api/now/table/change_request/" + sysID,
		"GET /api/now/table/sys_journal_field?" + query("sysparm_fields", "sys_id", "sysparm_limit", "1", "sysparm_query", journal),
		"PATCH /api/now/table/change_request/" + sysID,
	}
	if got := f.requests(); strings.Join(got, "\n") != strings.Join(wantLog, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantLog, "\n"))
	}
	if n := len(f.tables["sys_journal_field"]); n != 1 || f.tables["sys_journal_field"][0]["value"] != "stage canary succeeded\n(patchpilot event 2)" {
		t.Errorf("work notes %v", f.tables["sys_journal_field"])
	}
	if cr["state"] != "3" || cr["close_code"] != "unsuccessful" ||
		!strings.HasPrefix(fmt.Sprint(cr["close_notes"]), "Rollout r-20260302-100000-ab12 ended halted: stage wave_1: 2 of 2 hosts failed.") {
		t.Errorf("closed with state %v, code %v, notes %q", cr["state"], cr["close_code"], cr["close_notes"])
	}
}

// A retried creation, or one by another process, finds the change by its
// correlation_id instead of opening a second one.
func TestChangeFoundByCorrelationID(t *testing.T) {
	f, srv := newFakeNow(t)
	ch := newChange(t, srv.URL, nil)
	ctx := context.Background()
	for range 2 {
		if err := ch.Notify(ctx, note(1, patchpilot.TopicRolloutStarted, rollout(), "started")); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.tables["change_request"]); n != 1 {
		t.Fatalf("%d change requests, want 1", n)
	}
}

func TestApprovalFollowsTheChangeRequest(t *testing.T) {
	f, srv := newFakeNow(t)
	recs := &memRecords{}
	ch := newChange(t, srv.URL, recs)
	if !ch.WaitsForApproval() || ch.PollInterval() != 30*time.Second {
		t.Fatalf("wait %v every %s", ch.WaitsForApproval(), ch.PollInterval())
	}
	ctx := context.Background()
	r := rollout()
	// Asked before rollout_started was delivered: the change is made.
	a, err := ch.Approval(ctx, *r, "wave_1")
	if err != nil {
		t.Fatal(err)
	}
	if a.State != patchpilot.ChangePending || a.Change != "CHG0030001" {
		t.Errorf("approval %+v, want pending CHG0030001", a)
	}
	sysID := fmt.Sprint(f.record("change_request", 0)["sys_id"])
	if got := f.requests()[2]; got != "GET /api/now/table/change_request/"+sysID+"?"+query("sysparm_fields", "sys_id,number,approval,state") {
		t.Errorf("approval read %q", got)
	}
	for _, c := range []struct {
		approval, state string
		want            patchpilot.ChangeApprovalState
		detail          string
	}{
		{"requested", "-3", patchpilot.ChangePending, "approval requested"},
		{"approved", "-2", patchpilot.ChangeApproved, "approval approved"},
		{"rejected", "-3", patchpilot.ChangeRejected, "approval rejected"},
		{"requested", "4", patchpilot.ChangeRejected, "change canceled"},
	} {
		f.set("change_request", 0, "approval", c.approval)
		f.set("change_request", 0, "state", c.state)
		a, err := ch.Approval(ctx, *r, "wave_1")
		if err != nil || a.State != c.want || a.Detail != c.detail {
			t.Errorf("approval %s, state %s: got %+v, %v; want %s (%s)", c.approval, c.state, a, err, c.want, c.detail)
		}
	}
	if n := len(f.tables["change_request"]); n != 1 {
		t.Errorf("%d change requests", n)
	}
	// An answer with a field of another type is a plain error naming the
	// change, the field and what was expected.
	for _, c := range []struct {
		field string
		value any
		want  string
	}{
		{"approval", 5.0, `ServiceNow answered change CHG0030001: approval: expected a string such as "approved", got a number`},
		{"state", map[string]any{"value": "-3"}, `ServiceNow answered change CHG0030001: state: expected a string such as "-5", got an object`},
		{"number", true, `ServiceNow answered change ` + sysID + `: number: expected a string such as "CHG0030001", got a boolean`},
	} {
		f.set("change_request", 0, "approval", "requested")
		f.set("change_request", 0, "state", "-3")
		f.set("change_request", 0, "number", "CHG0030001")
		f.set("change_request", 0, c.field, c.value)
		_, err := ch.Approval(ctx, *r, "wave_1")
		if err == nil || err.Error() != c.want {
			t.Errorf("%s %v: err = %v\nwant %s", c.field, c.value, err, c.want)
		}
	}
}

func TestChangeErrors(t *testing.T) {
	for _, c := range []struct {
		name      string
		password  string
		answer    func(w http.ResponseWriter)
		retryable bool
		after     time.Duration
		mention   string
	}{
		{"bad credentials", "wrong", nil, false, 0, "servicenow answered 401: GET %s/api/now/table/change_request: bad credentials; check the user patchpilot and password of integration snow and the account's roles (itil for change_request, cmdb_read for the CMDB): User Not Authenticated; Required to provide Auth information"},
		{"forbidden", "pa55word", func(w http.ResponseWriter) {
			w.WriteHeader(403)
			fmt.Fprint(w, `{"error":{"message":"Operation Failed","detail":"ACL Exception Insert Failed due to security constraints"},"status":"failure"}`)
		}, false, 0, "forbidden: the account lacks the permission; check the user patchpilot"},
		{"rate limited", "pa55word", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(429)
		}, true, 2 * time.Minute, "rate limited"},
		{"down", "pa55word", func(w http.ResponseWriter) { w.WriteHeader(502) }, true, 0, "answered 502"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, srv := newFakeNow(t)
			if c.answer != nil {
				f.fail["POST /api/now/table/change_request"] = c.answer
			}
			ch, err := NewChange(spec(t, fmt.Sprintf(changeSpec, srv.URL)), func(string) string { return c.password }, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = ch.Notify(context.Background(), note(1, patchpilot.TopicRolloutStarted, rollout(), "started"))
			var de *patchpilot.DeliveryError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v", err)
			}
			mention := c.mention
			if strings.Contains(mention, "%s") {
				mention = fmt.Sprintf(mention, srv.URL)
			}
			if de.Retryable != c.retryable || de.RetryAfter != c.after || !strings.Contains(err.Error(), mention) {
				t.Errorf("err = %q (retryable %v after %s), want retryable %v after %s mentioning %q", err, de.Retryable, de.RetryAfter, c.retryable, c.after, mention)
			}
			if strings.Contains(err.Error(), c.password) {
				t.Error("the error shows the password")
			}
			// The approval check fails closed with the reason.
			_, aerr := ch.Approval(context.Background(), *rollout(), "wave_1")
			if aerr == nil || !strings.Contains(aerr.Error(), "the change request could not be created or found") {
				t.Errorf("approval err = %v", aerr)
			}
		})
	}
	t.Run("change gone", func(t *testing.T) {
		f, srv := newFakeNow(t)
		recs := &memRecords{}
		_ = recs.SaveChangeRecord(context.Background(), patchpilot.ChangeRecord{Integration: "snow", Rollout: "r-20260302-100000-ab12", ExternalID: "deadbeef", Key: "CHG0000001"})
		ch := newChange(t, srv.URL, recs)
		_, err := ch.Approval(context.Background(), *rollout(), "wave_1")
		var de *patchpilot.DeliveryError
		if !errors.As(err, &de) || de.Status != 404 || de.Retryable || !strings.Contains(err.Error(), "No Record found") {
			t.Errorf("err = %v", err)
		}
		_ = f
	})
}

func TestSchedule(t *testing.T) {
	tue := []patchpilot.MaintenanceWindow{{Days: []time.Weekday{time.Tuesday}, Start: 22 * 60, End: 2 * 60}}
	daily := []patchpilot.MaintenanceWindow{{Start: 8 * 60, End: 12 * 60, TZ: "Europe/Berlin"}}
	for _, c := range []struct {
		name       string
		ws         []patchpilot.MaintenanceWindow
		at         time.Time
		start, end string
	}{
		{"no windows", nil, now, "2026-03-02 10:00:00", "2026-03-02 14:00:00"},
		{"next tuesday night", tue, now, "2026-03-03 22:00:00", "2026-03-04 02:00:00"},
		{"inside it after midnight", tue, time.Date(2026, 3, 4, 1, 0, 0, 0, time.UTC), "2026-03-04 01:00:00", "2026-03-04 02:00:00"},
		{"in a zone, open now", daily, now, "2026-03-02 10:00:00", "2026-03-02 11:00:00"},
		{"in a zone, tomorrow", daily, time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC), "2026-03-03 07:00:00", "2026-03-03 11:00:00"},
	} {
		s, e := Schedule(c.ws, c.at, 4*time.Hour)
		if got := s.UTC().Format(time.DateTime) + " " + e.UTC().Format(time.DateTime); got != c.start+" "+c.end {
			t.Errorf("%s: %s, want %s %s", c.name, got, c.start, c.end)
		}
	}
}

func TestChangeSettingsErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"name: s\ntype: servicenow\nurl: https://x.service-now.com\npassword: {env: SN_PASSWORD}", "pp.yaml:2: integrations: s: user: required"},
		{"name: s\ntype: servicenow\nurl: https://x.service-now.com\nuser: u\npassword: {env: SN_PASSWORD}\nchange_type: major", "pp.yaml:7: integrations: s: change_type: expected normal, standard or emergency"},
		{"name: s\ntype: servicenow\nurl: https://x.service-now.com\nuser: u\npassword: {env: SN_PASSWORD}\npoll_interval: soon", "pp.yaml:7: integrations: s: poll_interval: expected a positive duration"},
		{"name: s\ntype: servicenow\nurl: https://x.service-now.com\nuser: u\npassword: {env: SN_PASSWORD}\npoll_interval: 1ms", `pp.yaml:7: integrations: s: poll_interval: expected at least 10s (such as 1m), got "1ms"`},
		{"name: s\ntype: servicenow\nurl: https://x.service-now.com\nuser: u\npassword: {env: SN_PASSWORD}\nwait_for_approval: \"yes\"", `pp.yaml:7: integrations: s: wait_for_approval: expected true or false, got "yes"`},
		{"name: s\ntype: servicenow\nurl: https://x.service-now.com\nuser: u\npassword: {env: SN_PASSWORD}\nwait_for_approval: yes", `pp.yaml:7: integrations: s: wait_for_approval: expected true or false, got "yes"`},
		{"name: s\ntype: servicenow\nurl: https://x.service-now.com\nuser: u\npassword: {env: SN_PASSWORD}\nwait_for_approval: on", `pp.yaml:7: integrations: s: wait_for_approval: expected true or false, got "on"`},
		{"name: s\ntype: servicenow\nurl: https://x.service-now.com\nuser: u\npassword: {env: SN_MISSING}", "pp.yaml:6: integrations: s: password: environment variable SN_MISSING is not set"},
		{"name: s\ntype: servicenow\nurl: https://x.service-now.com\nuser: u\npassword: hunter2", "password: write the secret's source"},
		{"name: s\ntype: servicenow\nurl: https://x.service-now.com\nuser: u\npassword: {env: SN_PASSWORD}\nwait_for_approvals: true", `unknown key "wait_for_approvals"`},
	} {
		_, err := NewChange(spec(t, c.src), env, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n err = %v, want %q", c.src, err, c.want)
		}
	}
}

func TestChangeRequestsItsApproval(t *testing.T) {
	f, srv := newFakeNow(t)
	ch, err := NewChange(spec(t, fmt.Sprintf(changeSpec+"\nrequest_approval_state: \"-4\"", srv.URL)), env, &memRecords{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Notify(context.Background(), note(1, patchpilot.TopicRolloutStarted, rollout(), "started")); err != nil {
		t.Fatal(err)
	}
	cr := f.record("change_request", 0)
	got := f.requests()
	if cr["state"] != "-4" || len(got) != 3 || got[2] != "PATCH /api/now/table/change_request/"+fmt.Sprint(cr["sys_id"]) {
		t.Errorf("state %v after %q", cr["state"], got)
	}
	// The request fails once: the retry finds the change still new and
	// asks again, without a second change.
	r := rollout()
	r.ID = "r-2"
	f.fail["PATCH /api/now/table/change_request/"+fmt.Sprintf("%032x", 2)] = func(w http.ResponseWriter) { w.WriteHeader(503) }
	err = ch.Notify(context.Background(), note(1, patchpilot.TopicRolloutStarted, r, "started"))
	var de *patchpilot.DeliveryError
	if !errors.As(err, &de) || !de.Retryable || !strings.Contains(err.Error(), "request the approval of change CHG0030002") {
		t.Fatalf("err = %v", err)
	}
	delete(f.fail, "PATCH /api/now/table/change_request/"+fmt.Sprintf("%032x", 2))
	if err := ch.Notify(context.Background(), note(1, patchpilot.TopicRolloutStarted, r, "started")); err != nil {
		t.Fatal(err)
	}
	if n := len(f.tables["change_request"]); n != 2 || f.record("change_request", 1)["state"] != "-4" {
		t.Errorf("%d changes, the second in state %v", n, f.record("change_request", 1)["state"])
	}
}

func TestChangeCarriesTheRisk(t *testing.T) {
	f, srv := newFakeNow(t)
	ch := newChange(t, srv.URL, nil)
	ch.s.Risk = ""
	var asked []string
	ch.Risk = func(_ context.Context, r patchpilot.Rollout) (integrations.Risk, error) {
		asked = append(asked, r.ID)
		return integrations.Risk{Level: patchpilot.RiskHigh, Lines: []string{"probability of failure per host: mean 12.0%"}}, nil
	}
	if err := ch.Notify(context.Background(), note(1, patchpilot.TopicRolloutStarted, rollout(), "started")); err != nil {
		t.Fatal(err)
	}
	cr := f.record("change_request", 0)
	if cr["risk"] != "2" || !strings.Contains(fmt.Sprint(cr["description"]), "Risk: high\n  probability of failure per host: mean 12.0%") {
		t.Errorf("risk %v, description:\n%s", cr["risk"], cr["description"])
	}
	if len(asked) != 1 || asked[0] != "r-20260302-100000-ab12" {
		t.Errorf("risk asked for %v", asked)
	}
	// A risk that cannot be assessed is told, and the change is made.
	ch.Risk = func(context.Context, patchpilot.Rollout) (integrations.Risk, error) {
		return integrations.Risk{}, errors.New("no facts")
	}
	r := rollout()
	r.ID = "r-2"
	if err := ch.Notify(context.Background(), note(1, patchpilot.TopicRolloutStarted, r, "started")); err != nil {
		t.Fatal(err)
	}
	cr = f.record("change_request", 1)
	if _, ok := cr["risk"]; ok || !strings.Contains(fmt.Sprint(cr["description"]), "the risk could not be assessed: no facts") {
		t.Errorf("risk %v, description:\n%s", cr["risk"], cr["description"])
	}
}
