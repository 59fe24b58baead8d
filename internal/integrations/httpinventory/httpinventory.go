// Package httpinventory reads hosts from an HTTP endpoint that answers
// JSON: a list of hosts, or an object whose "hosts" key holds one.
//
//	[{"name": "web1", "address": "10.0.0.1", "port": 22, "user": "deploy",
//	  "labels": {"env": "prod", "role": "web"}}]
//
// Every host needs a name; the other keys are optional. Unknown keys, a
// value of the wrong type, a name given twice and an answer larger than
// the cap are errors naming the host's index and the field.
package httpinventory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
)

// Type is the integration type's name.
const Type = "http_inventory"

// DefaultMaxBytes caps the answer when max_bytes is not set.
const DefaultMaxBytes = 8 << 20

// DefaultMaxHosts caps the hosts of an answer when max_hosts is not set,
// as the ServiceNow CMDB's.
const DefaultMaxHosts = 10000

// Settings are the http_inventory type's keys.
type Settings struct {
	// URL answers GET with the hosts.
	URL string `yaml:"url"`
	// Token, when given, is sent as "Authorization: Bearer TOKEN".
	Token integrations.Secret `yaml:"token"`
	// MaxBytes caps the answer (default 8 MiB).
	MaxBytes int64 `yaml:"max_bytes"`
	// MaxHosts caps the hosts of the answer (default 10000).
	MaxHosts int `yaml:"max_hosts"`
}

// Source is an http_inventory integration.
type Source struct {
	name  string
	url   string
	token string
	max   int64
	hosts int
	HTTP  *http.Client
}

// New builds the source of a spec.
func New(spec integrations.Spec, getenv func(string) string) (*Source, error) {
	var s Settings
	if err := integrations.DecodeSettings(spec, &s); err != nil {
		return nil, err
	}
	u, err := integrations.CheckBaseURL(spec, "url", s.URL, "https://cmdb.example.com/api/hosts")
	if err != nil {
		return nil, err
	}
	if s.MaxBytes == 0 {
		s.MaxBytes = DefaultMaxBytes
	}
	if s.MaxBytes < 0 {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: expected a positive number of bytes, got %d", spec.At("max_bytes"), s.MaxBytes)
	}
	if s.MaxHosts == 0 {
		s.MaxHosts = DefaultMaxHosts
	}
	if s.MaxHosts < 0 {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: expected a positive number of hosts, got %d", spec.At("max_hosts"), s.MaxHosts)
	}
	src := &Source{name: spec.Name, url: u, max: s.MaxBytes, hosts: s.MaxHosts, HTTP: integrations.NewHTTPClient(30 * time.Second)}
	if !s.Token.IsZero() {
		if src.token, err = s.Token.Resolve(spec.At("token"), getenv); err != nil {
			return nil, err
		}
	}
	return src, nil
}

// Name is the integration's name.
func (s *Source) Name() string { return s.name }

// Hosts fetches and decodes the hosts.
func (s *Source) Hosts(ctx context.Context) ([]patchpilot.Host, error) {
	h := http.Header{}
	if s.token != "" {
		h.Set("Authorization", "Bearer "+s.token)
	}
	var raw json.RawMessage
	call := integrations.RESTCall{Service: "http_inventory", Method: http.MethodGet, URL: s.url, Header: h, MaxBytes: s.max, Secrets: []string{s.token},
		AuthHint: "check the token of integration " + s.name, NotFoundHint: "check the url of integration " + s.name}
	if _, err := call.Do(ctx, s.HTTP, &raw); err != nil {
		return nil, integrations.SourceError(s.name, err)
	}
	hosts, err := DecodeMax(raw, s.hosts)
	var tm *tooManyError
	switch {
	case errors.As(err, &tm):
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: the answer of %s: %v", s.name, integrations.RedactURL(s.url), err).
			WithHint(fmt.Sprintf("raise max_hosts of integration %s (now %d), or have the endpoint answer fewer hosts", s.name, s.hosts))
	case err != nil:
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: the answer of %s: %v", s.name, integrations.RedactURL(s.url), err)
	}
	for i := range hosts {
		hosts[i].Source = "http:" + s.name
	}
	return hosts, nil
}

type hostJSON struct {
	Name    string         `json:"name"`
	Address string         `json:"address"`
	Port    *int           `json:"port"`
	User    string         `json:"user"`
	Labels  map[string]any `json:"labels"`
}

// Decode reads the hosts of an answer: a JSON list of hosts or an object
// {"hosts": [...]}, strictly, with at most DefaultMaxHosts hosts.
func Decode(data []byte) ([]patchpilot.Host, error) { return DecodeMax(data, DefaultMaxHosts) }

// tooManyError is an answer with more hosts than max_hosts.
type tooManyError struct{ n, max int }

func (e *tooManyError) Error() string {
	return fmt.Sprintf("%d hosts, more than max_hosts (%d)", e.n, e.max)
}

// DecodeMax is Decode with a cap on the number of hosts (max_hosts).
func DecodeMax(data []byte, maxHosts int) ([]patchpilot.Host, error) {
	data = bytes.TrimSpace(data)
	var items []json.RawMessage
	switch {
	case len(data) > 0 && data[0] == '[':
		if err := json.Unmarshal(data, &items); err != nil {
			return nil, fmt.Errorf("expected a JSON list of hosts: %v", err)
		}
	case len(data) > 0 && data[0] == '{':
		var wrap struct {
			Hosts json.RawMessage `json:"hosts"`
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&wrap); err != nil {
			return nil, fmt.Errorf(`expected {"hosts": [...]}: %v`, fieldError(err))
		}
		switch h := bytes.TrimSpace(wrap.Hosts); {
		case h == nil:
			return nil, errors.New(`expected {"hosts": [...]}: no "hosts" key`)
		case string(h) == "null":
			return nil, errors.New(`hosts: expected a list of hosts, got null`)
		case h[0] != '[':
			var v any
			_ = json.Unmarshal(h, &v)
			return nil, fmt.Errorf("hosts: expected a list of hosts, got %s", jsonKind(v))
		}
		if err := json.Unmarshal(wrap.Hosts, &items); err != nil {
			return nil, fmt.Errorf("hosts: expected a list of hosts: %v", err)
		}
	default:
		return nil, errors.New(`expected a JSON list of hosts or {"hosts": [...]}`)
	}
	if len(items) > maxHosts {
		return nil, &tooManyError{n: len(items), max: maxHosts}
	}
	hosts := make([]patchpilot.Host, 0, len(items))
	for i, it := range items {
		var hj hostJSON
		dec := json.NewDecoder(bytes.NewReader(it))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&hj); err != nil {
			return nil, fmt.Errorf("hosts[%d]: %v", i, fieldError(err))
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, fmt.Errorf("hosts[%d]: unexpected data after the host", i)
		}
		port := 0
		if hj.Port != nil {
			if *hj.Port < 1 || *hj.Port > 65535 {
				return nil, fmt.Errorf("hosts[%d]%s: port: expected 1 to 65535 (leave it out for 22), got %d", i, named(hj.Name), *hj.Port)
			}
			port = *hj.Port
		}
		var labels map[string]string
		for _, k := range slices.Sorted(maps.Keys(hj.Labels)) {
			v, ok := hj.Labels[k].(string)
			if !ok {
				return nil, fmt.Errorf("hosts[%d]%s: labels.%s: expected a string, got %s", i, named(hj.Name), k, jsonKind(hj.Labels[k]))
			}
			if labels == nil {
				labels = map[string]string{}
			}
			labels[k] = v
		}
		hosts = append(hosts, patchpilot.Host{Name: hj.Name, Address: hj.Address, Port: port, User: hj.User, Labels: labels})
	}
	if err := integrations.CheckHosts(hosts, func(i int) string { return fmt.Sprintf("hosts[%d]", i) }); err != nil {
		return nil, err
	}
	return hosts, nil
}

// named is " (NAME)" after a record's index, when the name is known.
func named(name string) string {
	if name == "" {
		return ""
	}
	return " (" + name + ")"
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case float64:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "string"
}

// fieldError names the field of a decoding error and what was expected.
func fieldError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		want := te.Type.String()
		switch want {
		case "int", "*int":
			want = "a number"
		case "string":
			want = "a string"
		case "map[string]string":
			want = "an object of string values"
		}
		if te.Field != "" {
			return fmt.Sprintf("%s: expected %s, got %s", te.Field, want, te.Value)
		}
		return fmt.Sprintf("expected %s, got %s", want, te.Value)
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return "unknown field " + strings.TrimPrefix(msg, "json: unknown field ") + "; known fields: name, address, port, user, labels"
	}
	return err.Error()
}
