package servicenow

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
)

// CMDBType is the integration type of the CMDB inventory source.
const CMDBType = "servicenow_cmdb"

// Defaults of the CMDB source.
const (
	DefaultCITable  = "cmdb_ci_linux_server"
	DefaultPageSize = 200
	DefaultMaxHosts = 10000
)

// CMDBSettings are the servicenow_cmdb type's keys.
type CMDBSettings struct {
	Connection `yaml:",inline"`
	// Table is the CI class read. Default cmdb_ci_linux_server.
	Table string `yaml:"table"`
	// Query is a sysparm_query filtering the CIs, such as
	// "operational_status=1^install_status=1".
	Query string `yaml:"query"`
	// PageSize is sysparm_limit (default 200); MaxHosts caps the CIs
	// read (default 10000).
	PageSize int `yaml:"page_size"`
	MaxHosts int `yaml:"max_hosts"`
	// NameField names the host (default "name"); AddressFields are
	// tried in order for its address (default ip_address, fqdn).
	NameField     string   `yaml:"name_field"`
	AddressFields []string `yaml:"address_fields"`
	// Labels maps a host label to the CI field it is read from (display
	// values); default env: used_for, support_group: support_group,
	// location: location.
	Labels map[string]string `yaml:"labels"`
	// WriteBack writes each patched host's state to its CI's fields
	// named in WriteFields (keys: patched_at, rollout, packages, state).
	WriteBack   bool              `yaml:"write_back"`
	WriteFields map[string]string `yaml:"write_fields"`
}

var writeKeys = []string{"patched_at", "rollout", "packages", "state"}

// CMDB is a servicenow_cmdb integration: a HostSource, and a Notifier
// that writes patch state back when WriteBack is on.
type CMDB struct {
	c    *client
	s    CMDBSettings
	runs func(ctx context.Context, rollout string) ([]patchpilot.HostRun, error)
	Now  func() time.Time
}

// NewCMDB builds the integration of a spec. runs, when not nil, gives a
// rollout's host runs, so that write-back names exactly the hosts that
// succeeded; without it the hosts of succeeded stages are written.
func NewCMDB(spec integrations.Spec, getenv func(string) string, runs func(ctx context.Context, rollout string) ([]patchpilot.HostRun, error)) (*CMDB, error) {
	var s CMDBSettings
	if err := integrations.DecodeSettings(spec, &s); err != nil {
		return nil, err
	}
	if s.Table == "" {
		s.Table = DefaultCITable
	}
	if !tableName(s.Table) {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: expected a table name such as cmdb_ci_linux_server, got %q", spec.At("table"), s.Table)
	}
	if s.PageSize == 0 {
		s.PageSize = DefaultPageSize
	}
	if s.PageSize < 1 || s.PageSize > 10000 {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: expected 1 to 10000, got %d", spec.At("page_size"), s.PageSize)
	}
	if s.MaxHosts == 0 {
		s.MaxHosts = DefaultMaxHosts
	}
	if s.MaxHosts < 1 {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: expected a positive number, got %d", spec.At("max_hosts"), s.MaxHosts)
	}
	if s.NameField == "" {
		s.NameField = "name"
	}
	if len(s.AddressFields) == 0 {
		s.AddressFields = []string{"ip_address", "fqdn"}
	}
	if s.Labels == nil {
		s.Labels = map[string]string{"env": "used_for", "support_group": "support_group", "location": "location"}
	}
	fieldKeys := []struct {
		key    string
		fields []string
	}{{"name_field", []string{s.NameField}}, {"address_fields", s.AddressFields}, {"labels", values(s.Labels)}}
	for _, fk := range fieldKeys {
		for _, f := range fk.fields {
			if !tableName(f) {
				return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: %q is not a field name (letters, digits and _)", spec.At(fk.key), f)
			}
		}
	}
	if s.WriteBack {
		if len(s.WriteFields) == 0 {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: name the CI fields to write in write_fields (keys %s), such as {patched_at: u_last_patched}", spec.At("write_back"), strings.Join(writeKeys, ", "))
		}
	}
	for k, f := range s.WriteFields {
		if !slices.Contains(writeKeys, k) {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: unknown key %q; known keys: %s", spec.At("write_fields"), k, strings.Join(writeKeys, ", "))
		}
		if !tableName(f) {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: %s: %q is not a field name", spec.At("write_fields"), k, f)
		}
	}
	c, err := newClient(spec, s.Connection, getenv)
	if err != nil {
		return nil, err
	}
	return &CMDB{c: c, s: s, runs: runs, Now: time.Now}, nil
}

func values(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func tableName(s string) bool {
	if s == "" || len(s) > 80 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// Name is the integration's name.
func (m *CMDB) Name() string { return m.c.name }

// SetHTTPClient replaces the HTTP client (tests).
func (m *CMDB) SetHTTPClient(hc *http.Client) { m.c.HTTP = hc }

func (m *CMDB) fields() []string {
	fs := []string{"sys_id", m.s.NameField}
	fs = append(fs, m.s.AddressFields...)
	for _, f := range values(m.s.Labels) {
		if !slices.Contains(fs, f) {
			fs = append(fs, f)
		}
	}
	return fs
}

// Hosts reads the CIs page by page (sysparm_limit, sysparm_offset,
// ordered by name) with their display values, and maps each to a host:
// its name, the first address field set, and the labels mapped.
func (m *CMDB) Hosts(ctx context.Context) ([]patchpilot.Host, error) {
	var hosts []patchpilot.Host
	var sysIDs, addrFields []string
	record := func(i int) string {
		return fmt.Sprintf("%s record %d (sys_id %s)", m.s.Table, i, sysIDs[i])
	}
	for offset := 0; ; offset += m.s.PageSize {
		query := "ORDERBY" + m.s.NameField
		if m.s.Query != "" {
			query = m.s.Query + "^" + query
		}
		q := url.Values{
			"sysparm_query":                  {query},
			"sysparm_fields":                 {strings.Join(m.fields(), ",")},
			"sysparm_limit":                  {strconv.Itoa(m.s.PageSize)},
			"sysparm_offset":                 {strconv.Itoa(offset)},
			"sysparm_display_value":          {"true"},
			"sysparm_exclude_reference_link": {"true"},
		}
		var rows []map[string]any
		if err := m.c.list(ctx, m.s.Table, q, &rows); err != nil {
			return nil, integrations.SourceError(m.c.name+": read "+m.s.Table, err)
		}
		for i, row := range rows {
			idx := offset + i
			id, _ := field(row, "sys_id")
			sysIDs = append(sysIDs, id)
			bad := func(err error) error {
				return patchpilot.Errorf(patchpilot.EINVALID, "%s: %s: %v", m.c.name, record(idx), err)
			}
			name, err := field(row, m.s.NameField)
			if err != nil {
				return nil, bad(err)
			}
			if name == "" {
				return nil, bad(fmt.Errorf("field %s (the host name) is empty", m.s.NameField))
			}
			h := patchpilot.Host{Name: name, Source: "servicenow:" + m.c.name, Labels: map[string]string{}}
			addrField := ""
			for _, f := range m.s.AddressFields {
				a, err := field(row, f)
				if err != nil {
					return nil, bad(err)
				}
				if a != "" && h.Address == "" {
					h.Address, addrField = a, f
				}
			}
			addrFields = append(addrFields, addrField)
			for _, label := range slices.Sorted(maps.Keys(m.s.Labels)) {
				v, err := field(row, m.s.Labels[label])
				if err != nil {
					return nil, bad(err)
				}
				if v != "" {
					h.Labels[label] = v
				}
			}
			hosts = append(hosts, h)
			if len(hosts) > m.s.MaxHosts {
				return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: %s has more than %d CIs matching", m.c.name, m.s.Table, m.s.MaxHosts).
					WithHint("narrow the query, or raise max_hosts")
			}
		}
		if len(rows) < m.s.PageSize {
			break
		}
	}
	if err := integrations.CheckHosts(hosts, record); err != nil {
		msg := err.Error()
		for i, h := range hosts {
			// name the CI field an address came from
			if prefix := record(i) + " (" + h.Name + "): address: "; strings.HasPrefix(msg, prefix) {
				msg = record(i) + " (" + h.Name + "): address (field " + addrFields[i] + "): " + strings.TrimPrefix(msg, prefix)
				break
			}
		}
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: %s", m.c.name, msg)
	}
	return hosts, nil
}

// field reads a CI field's value: a string, or a reference's
// display_value or value when the instance sends an object; absent or
// null is empty, any other JSON type an error naming the field.
func field(row map[string]any, name string) (string, error) {
	switch x := row[name].(type) {
	case nil:
		return "", nil
	case string:
		return strings.TrimSpace(x), nil
	case map[string]any:
		for _, k := range []string{"display_value", "value"} {
			if v, ok := x[k].(string); ok && strings.TrimSpace(v) != "" {
				return strings.TrimSpace(v), nil
			}
		}
		return "", nil
	default:
		return "", fmt.Errorf("field %s: expected a string, got %s", name, jsonKind(x))
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// Notify writes patch state back to the CIs of the hosts patched when a
// stage is done and when the rollout finishes; other topics, and a CMDB
// without write_back, do nothing.
func (m *CMDB) Notify(ctx context.Context, n patchpilot.Notification) error {
	if n.Topic == patchpilot.TopicTest {
		q := url.Values{"sysparm_limit": {"1"}, "sysparm_fields": {"sys_id"}}
		var rows []map[string]any
		return m.c.list(ctx, m.s.Table, q, &rows)
	}
	if !m.s.WriteBack || n.Rollout == nil || n.Rollout.DryRun {
		return nil
	}
	if n.Topic != patchpilot.TopicStageDone && n.Topic != patchpilot.TopicRolloutFinished {
		return nil
	}
	hosts, err := m.patched(ctx, n.Rollout)
	if err != nil {
		return err
	}
	var pkgs []string
	for _, p := range n.Rollout.Plan.Patch.Packages {
		pkgs = append(pkgs, p.String())
	}
	at := n.Event.Time
	if at.IsZero() {
		at = m.Now()
	}
	vals := map[string]string{"patched_at": integrations.Timestamp(at), "rollout": n.Rollout.ID,
		"packages": strings.Join(pkgs, ", "), "state": "patched"}
	body := map[string]string{}
	for k, f := range m.s.WriteFields {
		body[f] = vals[k]
	}
	var errs []error
	for _, h := range hosts {
		if err := m.writeBack(ctx, h, body); err != nil {
			var de *patchpilot.DeliveryError
			if errors.As(err, &de) && de.Retryable {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// patched lists the rollout's hosts that were patched: succeeded host
// runs, or the hosts of succeeded stages without them.
func (m *CMDB) patched(ctx context.Context, r *patchpilot.Rollout) ([]string, error) {
	var out []string
	if m.runs != nil {
		runs, err := m.runs(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		for _, h := range runs {
			if h.State == patchpilot.HostSucceeded {
				out = append(out, h.Host)
			}
		}
		return out, nil
	}
	for _, s := range r.Stages {
		if s.State == patchpilot.StageSucceeded {
			out = append(out, s.Hosts...)
		}
	}
	return out, nil
}

func (m *CMDB) writeBack(ctx context.Context, host string, body map[string]string) error {
	if strings.ContainsAny(host, "^\n") {
		return &patchpilot.DeliveryError{Service: "servicenow", Message: fmt.Sprintf("write back %q: a host name with ^ cannot be looked up in a sysparm_query", host)}
	}
	q := url.Values{"sysparm_query": {m.s.NameField + "=" + host}, "sysparm_fields": {"sys_id"}, "sysparm_limit": {"1"}}
	var rows []struct {
		SysID string `json:"sys_id"`
	}
	if err := m.c.list(ctx, m.s.Table, q, &rows); err != nil {
		return err
	}
	if len(rows) == 0 {
		return &patchpilot.DeliveryError{Service: "servicenow", Message: fmt.Sprintf("write back %s: no %s CI named %s", host, m.s.Table, host)}
	}
	var out map[string]any
	return m.c.one(ctx, http.MethodPatch, m.s.Table+"/"+rows[0].SysID, nil, body, &out)
}
