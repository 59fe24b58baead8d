// Package servicenow speaks to a ServiceNow instance through its Table API
// (/api/now/table/...), with basic authentication:
//
//   - the servicenow type records each rollout as a change_request (its
//     plan, risk and schedule; work notes as it goes; closed with its
//     outcome), and can hold the rollout's gated stages until the change
//     is approved there (Approver);
//   - the servicenow_cmdb type reads Linux server CIs as an inventory
//     source (Source) and can write each patched host's state back to its
//     CI.
package servicenow

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
)

// Connection are the keys every servicenow type has.
type Connection struct {
	// URL is the instance: https://example.service-now.com.
	URL      string              `yaml:"url"`
	User     string              `yaml:"user"`
	Password integrations.Secret `yaml:"password"`
}

// client calls the instance's Table API.
type client struct {
	name string
	base string
	auth string
	user string
	// secrets are the password and the Authorization value, removed
	// from errors.
	secrets []string
	HTTP    *http.Client
}

func newClient(spec integrations.Spec, c Connection, getenv func(string) string) (*client, error) {
	base, err := integrations.CheckBaseURL(spec, "url", c.URL, "https://example.service-now.com")
	if err != nil {
		return nil, err
	}
	if c.User == "" {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: required: the ServiceNow account patchpilot signs in as", spec.At("user"))
	}
	pw, err := c.Password.Resolve(spec.At("password"), getenv)
	if err != nil {
		return nil, err
	}
	basic := base64.StdEncoding.EncodeToString([]byte(c.User + ":" + pw))
	return &client{name: spec.Name, base: base, user: c.User, auth: "Basic " + basic,
		secrets: []string{pw, basic}, HTTP: integrations.NewHTTPClient(30 * time.Second)}, nil
}

// call is a Table API call: path under /api/now/table/, a query, a body.
func (c *client) call(method, path string, q url.Values, body any) integrations.RESTCall {
	h := http.Header{}
	h.Set("Authorization", c.auth)
	u := c.base + "/api/now/table/" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return integrations.RESTCall{Service: "servicenow", Method: method, URL: u, Header: h, Body: body, Secrets: c.secrets,
		AuthHint:     fmt.Sprintf("check the user %s and password of integration %s and the account's roles (itil for change_request, cmdb_read for the CMDB)", c.user, c.name),
		NotFoundHint: fmt.Sprintf("check the url of integration %s and that the table exists", c.name)}
}

// one reads {"result": {...}} into out.
func (c *client) one(ctx context.Context, method, path string, q url.Values, body any, out any) error {
	var res struct {
		Result any `json:"result"`
	}
	res.Result = out
	_, err := c.call(method, path, q, body).Do(ctx, c.HTTP, &res)
	return err
}

// list reads {"result": [...]} into out.
func (c *client) list(ctx context.Context, path string, q url.Values, out any) error {
	var res struct {
		Result any `json:"result"`
	}
	res.Result = out
	_, err := c.call(http.MethodGet, path, q, nil).Do(ctx, c.HTTP, &res)
	return err
}
