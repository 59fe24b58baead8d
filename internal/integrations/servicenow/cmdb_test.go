package servicenow

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

const cmdbSpec = `name: cmdb
type: servicenow_cmdb
url: %s
user: patchpilot
password: {env: SN_PASSWORD}
query: operational_status=1
page_size: 2
labels: {env: used_for, team: support_group, site: location}
`

func seedCIs(f *fakeNow) {
	for _, ci := range []map[string]any{
		{"name": "web1", "ip_address": "10.0.0.1", "fqdn": "web1.example.com", "used_for": "Production", "support_group": "Linux Ops", "location": "Frankfurt", "operational_status": "1"},
		{"name": "web2", "ip_address": "", "fqdn": "web2.example.com", "used_for": "Production", "support_group": "Linux Ops", "location": "", "operational_status": "1"},
		{"name": "db1", "ip_address": "10.0.1.1", "used_for": "Staging", "support_group": "DBA", "location": "Paris", "operational_status": "1"},
		{"name": "old1", "ip_address": "10.0.9.9", "used_for": "Production", "operational_status": "2"},
		{"name": "web3", "ip_address": "10.0.0.3", "used_for": "Production", "support_group": "Linux Ops", "location": "Frankfurt", "operational_status": "1"},
	} {
		f.add("cmdb_ci_linux_server", ci)
	}
}

func TestCMDBHostsArePagedAndMapped(t *testing.T) {
	f, srv := newFakeNow(t)
	seedCIs(f)
	m, err := NewCMDB(spec(t, fmt.Sprintf(cmdbSpec, srv.URL)), env, nil)
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := m.Hosts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range hosts {
		got = append(got, fmt.Sprintf("%s %s env=%s team=%s site=%s %s", h.Name, h.Address, h.Labels["env"], h.Labels["team"], h.Labels["site"], h.Source))
	}
	want := []string{
		"web1 10.0.0.1 env=Production team=Linux Ops site=Frankfurt servicenow:cmdb",
		"web2 web2.example.com env=Production team=Linux Ops site= servicenow:cmdb",
		"db1 10.0.1.1 env=Staging team=DBA site=Paris servicenow:cmdb",
		"web3 10.0.0.3 env=Production team=Linux Ops site=Frankfurt servicenow:cmdb",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("hosts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, ok := hosts[1].Labels["site"]; ok {
		t.Error("an empty field became a label")
	}
	var wantLog []string
	for _, off := range []string{"0", "2", "4"} {
		wantLog = append(wantLog, "GET /api/now/table/cmdb_ci_linux_server?"+query(
			"sysparm_display_value", "true", "sysparm_exclude_reference_link", "true",
			"sysparm_fields", "sys_id,name,ip_address,fqdn,location,support_group,used_for",
			"sysparm_limit", "2", "sysparm_offset", off, "sysparm_query", "operational_status=1^ORDERBYname"))
	}
	if got := f.requests(); strings.Join(got, "\n") != strings.Join(wantLog, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantLog, "\n"))
	}
}

func TestCMDBBadRecordsAndCaps(t *testing.T) {
	f, srv := newFakeNow(t)
	seedCIs(f)
	f.add("cmdb_ci_linux_server", map[string]any{"name": "", "ip_address": "10.0.0.7", "operational_status": "1"})
	m, err := NewCMDB(spec(t, fmt.Sprintf(cmdbSpec, srv.URL)), env, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Hosts(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cmdb: cmdb_ci_linux_server record 4 (sys_id ") || !strings.Contains(err.Error(), "field name (the host name) is empty") {
		t.Errorf("err = %v", err)
	}
	m, err = NewCMDB(spec(t, fmt.Sprintf(cmdbSpec+"max_hosts: 2", srv.URL)), env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err = m.Hosts(context.Background()); err == nil || !strings.Contains(err.Error(), "more than 2 CIs matching") {
		t.Errorf("cap: %v", err)
	}
	f.set("cmdb_ci_linux_server", 5, "name", "web1")
	m, err = NewCMDB(spec(t, fmt.Sprintf(cmdbSpec, srv.URL)), env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err = m.Hosts(context.Background()); err == nil || !regexp.MustCompile(`cmdb_ci_linux_server record 4 \(sys_id \w+\): name: "web1" is already cmdb_ci_linux_server record 0 \(sys_id \w+\)`).MatchString(err.Error()) {
		t.Errorf("duplicate: %v", err)
	}
}

// TestCMDBRefusesHostsTheSSHStepWouldRefuse applies the inventory
// sources' one host check, and refuses a field of the wrong JSON type
// instead of ignoring it.
func TestCMDBRefusesHostsTheSSHStepWouldRefuse(t *testing.T) {
	for _, c := range []struct {
		field string
		value any
		want  string
	}{
		{"ip_address", "-oProxyCommand=id", `address (field ip_address): expected a host name or IP address (without a leading "-"), got "-oProxyCommand=id"`},
		{"ip_address", 5.0, `field ip_address: expected a string, got a number`},
		{"ip_address", true, `field ip_address: expected a string, got a boolean`},
		{"name", "-oProxyCommand=id", `name: expected a host name without spaces, "*", ",", "[" or a leading "-", got "-oProxyCommand=id"`},
		{"name", "web*", `got "web*"`},
		{"name", 7.0, `field name: expected a string, got a number`},
		{"used_for", []any{"x"}, `field used_for: expected a string, got a list`},
	} {
		t.Run(c.field+fmt.Sprint(c.value), func(t *testing.T) {
			f, srv := newFakeNow(t)
			seedCIs(f)
			f.set("cmdb_ci_linux_server", 2, c.field, c.value)
			m, err := NewCMDB(spec(t, fmt.Sprintf(cmdbSpec, srv.URL)), env, nil)
			if err != nil {
				t.Fatal(err)
			}
			hosts, err := m.Hosts(context.Background())
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "cmdb: cmdb_ci_linux_server record ") {
				t.Errorf("hosts %v, err = %v\nwant %q", hosts, err, c.want)
			}
		})
	}
}

func TestCMDBWriteBack(t *testing.T) {
	f, srv := newFakeNow(t)
	seedCIs(f)
	runs := func(_ context.Context, id string) ([]patchpilot.HostRun, error) {
		if id != "r-1" {
			return nil, fmt.Errorf("asked for %s", id)
		}
		return []patchpilot.HostRun{{Host: "web1", State: patchpilot.HostSucceeded}, {Host: "web3", State: patchpilot.HostRolledBack}}, nil
	}
	m, err := NewCMDB(spec(t, fmt.Sprintf(cmdbSpec+"write_back: true\nwrite_fields: {patched_at: u_last_patched, rollout: u_patch_rollout, packages: u_patch_packages}", srv.URL)), env, runs)
	if err != nil {
		t.Fatal(err)
	}
	r := &patchpilot.Rollout{ID: "r-1", Plan: patchpilot.Plan{Patch: patchpilot.PatchSpec{Packages: []patchpilot.PackagePin{{Name: "openssl", Version: "3.0.15-1"}}}}}
	n := patchpilot.Notification{Event: patchpilot.Event{ID: 4, Time: time.Date(2026, 3, 2, 11, 30, 0, 0, time.UTC)}, Topic: patchpilot.TopicStageDone, Rollout: r}
	if err := m.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	web1 := f.record("cmdb_ci_linux_server", 0)
	if web1["u_last_patched"] != "2026-03-02 11:30:00" || web1["u_patch_rollout"] != "r-1" || web1["u_patch_packages"] != "openssl=3.0.15-1" {
		t.Errorf("web1 CI %v", web1)
	}
	if _, ok := f.record("cmdb_ci_linux_server", 4)["u_patch_rollout"]; ok {
		t.Error("web3, rolled back, was written")
	}
	wantLog := []string{
		"GET /api/now/table/cmdb_ci_linux_server?" + query("sysparm_fields", "sys_id", "sysparm_limit", "1", "sysparm_query", "name=web1"),
		"PATCH /api/now/table/cmdb_ci_linux_server/" + fmt.Sprint(web1["sys_id"]),
	}
	if got := f.requests(); strings.Join(got, "\n") != strings.Join(wantLog, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantLog, "\n"))
	}
	// A host the CMDB does not know is a refusal naming it.
	runs2 := func(context.Context, string) ([]patchpilot.HostRun, error) {
		return []patchpilot.HostRun{{Host: "ghost", State: patchpilot.HostSucceeded}}, nil
	}
	m.runs = runs2
	err = m.Notify(context.Background(), n)
	var de *patchpilot.DeliveryError
	if !errors.As(err, &de) || de.Retryable || !strings.Contains(err.Error(), "no cmdb_ci_linux_server CI named ghost") {
		t.Errorf("err = %v", err)
	}
	// Other topics write nothing.
	before := len(f.requests())
	n.Topic = patchpilot.TopicHalted
	if err := m.Notify(context.Background(), n); err != nil || len(f.requests()) != before {
		t.Errorf("halted: %v, %d requests", err, len(f.requests())-before)
	}
}

func TestCMDBSettingsErrors(t *testing.T) {
	base := "name: c\ntype: servicenow_cmdb\nurl: https://x.service-now.com\nuser: u\npassword: {env: SN_PASSWORD}\n"
	for _, c := range []struct{ src, want string }{
		{base + "write_back: true", "pp.yaml:7: integrations: c: write_back: name the CI fields to write in write_fields"},
		{base + "write_fields: {when: u_x}", `pp.yaml:7: integrations: c: write_fields: unknown key "when"`},
		{base + "table: 'cmdb; drop'", "pp.yaml:7: integrations: c: table: expected a table name"},
		{base + "page_size: 0\nmax_hosts: -1", "pp.yaml:8: integrations: c: max_hosts: expected a positive number"},
		{strings.Replace(base, "url: https://x.service-now.com", "url: https://x.service-now.com/?sysparm_token=abc", 1), `pp.yaml:4: integrations: c: url: expected an http or https URL without a query, such as https://example.service-now.com, got "https://x.service-now.com/"`},
		{base + "labels: {env: 'used for', dc: location}", `pp.yaml:7: integrations: c: labels: "used for" is not a field name`},
	} {
		_, err := NewCMDB(spec(t, c.src), env, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n err = %v, want %q", c.src, err, c.want)
		}
	}
}
