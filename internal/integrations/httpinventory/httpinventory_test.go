package httpinventory

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
)

func spec(t *testing.T, src string) integrations.Spec {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("services:\n  - "+strings.ReplaceAll(strings.TrimSpace(src), "\n", "\n    ")+"\n"), &doc); err != nil {
		t.Fatal(err)
	}
	c, err := integrations.Decode("pp.yaml", doc.Content[0], []string{Type})
	if err != nil {
		t.Fatal(err)
	}
	return c.Items[0]
}

func serve(t *testing.T, status int, header map[string]string, body string) (*httptest.Server, *[]string) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, fmt.Sprintf("%s %s auth=%q accept=%q", r.Method, r.URL.RequestURI(), r.Header.Get("Authorization"), r.Header.Get("Accept")))
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func TestHostsFromTheEndpoint(t *testing.T) {
	srv, seen := serve(t, 200, map[string]string{"Content-Type": "application/json"}, `{"hosts": [
		{"name": "web1", "address": "10.0.0.1", "port": 2222, "user": "deploy", "labels": {"env": "prod", "role": "web"}},
		{"name": "db1"}
	]}`)
	s, err := New(spec(t, "name: fleet\ntype: http_inventory\nurl: "+srv.URL+"/api/hosts?state=live\ntoken: {env: INV_TOKEN}"),
		func(k string) string { return map[string]string{"INV_TOKEN": "t0ken"}[k] })
	if err == nil {
		t.Fatal("a URL with a query was accepted")
	}
	s, err = New(spec(t, "name: fleet\ntype: http_inventory\nurl: "+srv.URL+"/api/hosts\ntoken: {env: INV_TOKEN}"),
		func(k string) string { return map[string]string{"INV_TOKEN": "t0ken"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := s.Hosts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := `GET /api/hosts auth="Bearer t0ken" accept="application/json"`; len(*seen) != 1 || (*seen)[0] != want {
		t.Errorf("requests %q, want %q", *seen, want)
	}
	if len(hosts) != 2 {
		t.Fatalf("%d hosts", len(hosts))
	}
	h := hosts[0]
	if h.Name != "web1" || h.Address != "10.0.0.1" || h.Port != 2222 || h.User != "deploy" || h.Labels["env"] != "prod" || h.Labels["role"] != "web" || h.Source != "http:fleet" {
		t.Errorf("host %+v", h)
	}
	if hosts[1].Name != "db1" || hosts[1].Address != "" || hosts[1].Port != 0 {
		t.Errorf("host %+v", hosts[1])
	}
}

func TestDecodeIsStrict(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{`[{"name": "a"}, {"name": "b", "adress": "x"}]`, `hosts[1]: unknown field "adress"; known fields: name, address, port, user, labels`},
		{`[{"name": "a", "port": "22"}]`, `hosts[0]: port: expected a number, got string`},
		{`[{"name": "a", "labels": {"tier": 1}}]`, `hosts[0] (a): labels.tier: expected a string, got number`},
		{`[{"name": "a"}, {"address": "10.0.0.2"}]`, `hosts[1]: name: the host name is missing`},
		{`[{"name": "-oProxyCommand=x"}]`, `hosts[0]: name: expected a host name without spaces, "*", ",", "[" or a leading "-", got "-oProxyCommand=x"`},
		{`[{"name": "web*"}]`, `hosts[0]: name: expected a host name without spaces, "*", ",", "[" or a leading "-", got "web*"`},
		{`[{"name": "a,b"}]`, `got "a,b"`},
		{`[{"name": "web[1:3]"}]`, `got "web[1:3]"`},
		{`[{"name": "a", "port": 0}]`, `hosts[0] (a): port: expected 1 to 65535 (leave it out for 22), got 0`},
		{`[{"name": "a", "user": "root -oX"}]`, `hosts[0] (a): user: expected a user name without spaces or a leading "-", got "root -oX"`},
		{`[{"name": "a", "user": "-oX"}]`, `hosts[0] (a): user: expected a user name`},
		{`[{"name": "a", "address": "-oProxyCommand=id"}]`, `hosts[0] (a): address: expected a host name or IP address (without a leading "-"), got "-oProxyCommand=id"`},
		{`[{"name": "a", "address": "10.0.0.1;id"}]`, `hosts[0] (a): address: expected a host name or IP address`},
		{`{"hosts": null}`, `hosts: expected a list of hosts, got null`},
		{`{"hosts": {"name": "a"}}`, `hosts: expected a list of hosts, got object`},
		{`[{"name": "a"}, {"name": "a"}]`, `hosts[1]: name: "a" is already hosts[0]`},
		{`[{"name": "a", "port": 70000}]`, `hosts[0] (a): port: expected 1 to 65535 (leave it out for 22), got 70000`},
		{`{"items": []}`, `expected {"hosts": [...]}: unknown field "items"`},
		{`{}`, `no "hosts" key`},
		{`"web1"`, `expected a JSON list of hosts or {"hosts": [...]}`},
	} {
		_, err := Decode([]byte(c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n err = %v\nwant %q", c.body, err, c.want)
		}
	}
	hosts, err := Decode([]byte(`[]`))
	if err != nil || len(hosts) != 0 {
		t.Errorf("empty list: %v, %v", hosts, err)
	}
	hosts, err = Decode([]byte(`{"hosts": [{"name": "web-1.example.com", "address": "fe80::1", "port": 2222, "user": "deploy"}, {"name": "db_2", "address": "db-2.example.com"}]}`))
	if err != nil || len(hosts) != 2 || hosts[0].Port != 2222 || hosts[1].Port != 0 || hosts[1].Address != "db-2.example.com" {
		t.Errorf("good hosts: %+v, %v", hosts, err)
	}
}

func TestEndpointErrors(t *testing.T) {
	big := "[" + strings.Repeat(`{"name":"h"},`, 100) + `{"name":"z"}]`
	for _, c := range []struct {
		name      string
		status    int
		header    map[string]string
		body      string
		settings  string
		retryable bool
		want      string
	}{
		{"bad token", 401, nil, `{"message":"invalid token"}`, "", false, "http_inventory answered 401: GET %s/hosts: bad credentials; check the token of integration fleet: invalid token"},
		{"forbidden", 403, nil, ``, "", false, "answered 403"},
		{"not found", 404, nil, `not here`, "", false, "not found; check the url of integration fleet: not here"},
		{"rate limited", 429, map[string]string{"Retry-After": "30"}, ``, "", true, "rate limited"},
		{"down", 503, nil, `<html>down</html>`, "", true, "answered 503"},
		{"too large", 200, nil, big, "\nmax_bytes: 100", false, "is larger than 100 bytes"},
		{"bad json", 200, nil, `[{"name": "a"},`, "", false, "is not the JSON expected"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, _ := serve(t, c.status, c.header, c.body)
			s, err := New(spec(t, "name: fleet\ntype: http_inventory\nurl: "+srv.URL+"/hosts"+c.settings), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Hosts(context.Background())
			want := c.want
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, srv.URL)
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want %q", err, want)
			}
			var de *patchpilot.DeliveryError
			if errors.As(err, &de) != true || de.Retryable != c.retryable {
				t.Errorf("err %v: retryable %v, want %v", err, de != nil && de.Retryable, c.retryable)
			}
			if c.name == "rate limited" && de.RetryAfter.Seconds() != 30 {
				t.Errorf("retry after %s", de.RetryAfter)
			}
		})
	}
}

// TestMaxHostsCapsTheAnswer: collect would SSH to every host read, so an
// answer with more hosts than max_hosts (default 10000) is refused, naming
// the cap and the setting.
func TestMaxHostsCapsTheAnswer(t *testing.T) {
	var b strings.Builder
	b.WriteString("[")
	for i := range DefaultMaxHosts + 1 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"name":"h%d"}`, i)
	}
	b.WriteString("]")
	for _, c := range []struct {
		settings, body, want string
	}{
		{"", b.String(), "fleet: the answer of %s/hosts: 10001 hosts, more than max_hosts (10000)"},
		{"\nmax_hosts: 2", `[{"name":"a"},{"name":"b"},{"name":"c"}]`, "fleet: the answer of %s/hosts: 3 hosts, more than max_hosts (2)"},
	} {
		srv, _ := serve(t, 200, nil, c.body)
		s, err := New(spec(t, "name: fleet\ntype: http_inventory\nurl: "+srv.URL+"/hosts"+c.settings), nil)
		if err != nil {
			t.Fatal(err)
		}
		hosts, err := s.Hosts(context.Background())
		if want := fmt.Sprintf(c.want, srv.URL); err == nil || err.Error() != want {
			t.Errorf("%d hosts, err = %v\nwant %s", len(hosts), err, want)
		}
		if patchpilot.ErrorCode(err) != patchpilot.EINVALID || !strings.Contains(patchpilot.ErrorHint(err), "raise max_hosts of integration fleet") {
			t.Errorf("code %s, hint %q", patchpilot.ErrorCode(err), patchpilot.ErrorHint(err))
		}
	}
	srv, _ := serve(t, 200, nil, `[{"name":"a"},{"name":"b"}]`)
	s, err := New(spec(t, "name: fleet\ntype: http_inventory\nurl: "+srv.URL+"/hosts\nmax_hosts: 2"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if hosts, err := s.Hosts(context.Background()); err != nil || len(hosts) != 2 {
		t.Errorf("at the cap: %d hosts, %v", len(hosts), err)
	}
}
