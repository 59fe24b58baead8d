// Package pagerduty pages through PagerDuty's Events API v2: an alert is
// triggered when a rollout halts, an incident is opened or a rollback
// fails, and resolved when the rollout runs again or finishes well. Each
// rollout has one alert (dedup key "patchpilot/ROLLOUT") and each incident
// its own ("patchpilot/ROLLOUT/incident/ID"), so that a retried or repeated
// notification updates the open alert instead of opening another.
//
// The routing key (the integration key of an Events API v2 integration) is
// a secret: read from an environment variable or a file, never printed.
package pagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
)

// Type is the integration type written in patchpilot.yaml.
const Type = "pagerduty"

// DefaultURL is the Events API v2 endpoint of alert events; change events
// go to /v2/change/enqueue on the same host.
const DefaultURL = "https://events.pagerduty.com/v2/enqueue"

// Timeout bounds one request to PagerDuty.
const Timeout = 15 * time.Second

// Settings are the type's keys in patchpilot.yaml.
type Settings struct {
	// RoutingKey is the 32-character integration key, a secret.
	RoutingKey integrations.Secret `yaml:"routing_key"`
	// URL is the alert events endpoint (default DefaultURL); another
	// region's or a test's.
	URL string `yaml:"url"`
	// Source is the payload's source when the event names no host
	// (default "patchpilot").
	Source string `yaml:"source"`
}

// Notifier sends events to one integration.
type Notifier struct {
	name      string
	key       string
	url       string
	changeURL string
	source    string
	client    *http.Client
}

// Build reads a spec's settings, resolves the routing key and checks both.
// Errors name the spec's file and line, never the key.
func Build(s integrations.Spec, getenv func(string) string) (*Notifier, error) {
	var st Settings
	if err := integrations.DecodeSettings(s, &st); err != nil {
		return nil, err
	}
	if st.RoutingKey.IsZero() {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: missing; expected {env: VARIABLE} or {file: /path} holding the integration key of an Events API v2 integration", s.At("routing_key"))
	}
	key, err := st.RoutingKey.Resolve(s.At("routing_key"), getenv)
	if err != nil {
		return nil, err
	}
	if !validKey(key) {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s (from %s): expected the 32-character integration key (letters and digits) of an Events API v2 integration, got %d characters",
			s.At("routing_key"), st.RoutingKey, len(key)).WithHint("copy the Integration Key from the service's Integrations tab in PagerDuty")
	}
	u := st.URL
	if u == "" {
		u = DefaultURL
	}
	if err := checkURL(u); err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: %s, got %q", s.At("url"), err, integrations.RedactURL(u))
	}
	if strings.ContainsAny(st.Source, "\r\n") {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: expected one line", s.At("source"))
	}
	n, err := New(s.Name, key, u, nil)
	if err != nil {
		return nil, err
	}
	if st.Source != "" {
		n.source = st.Source
	}
	return n, nil
}

func validKey(k string) bool {
	if len(k) != 32 {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// checkURL accepts an https URL with a host (http only to loopback).
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("expected a URL such as " + DefaultURL)
	}
	switch u.Scheme {
	case "https":
	case "http":
		h := u.Hostname()
		if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return errors.New("expected an https URL (http is accepted only to a loopback address)")
		}
	default:
		return errors.New("expected an https URL such as " + DefaultURL)
	}
	if u.User != nil || u.RawQuery != "" {
		return errors.New("expected a URL without user or query, such as " + DefaultURL)
	}
	return nil
}

// New returns a notifier sending with routingKey to eventsURL (the alert
// endpoint; change events go to /v2/change/enqueue on its host) with
// client (nil: a client with Timeout).
func New(name, routingKey, eventsURL string, client *http.Client) (*Notifier, error) {
	u, err := url.Parse(eventsURL)
	if err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "pagerduty url %q: %v", eventsURL, err)
	}
	cu := *u
	cu.Path = "/v2/change/enqueue"
	if client == nil {
		client = integrations.NewHTTPClient(Timeout)
	} else {
		client = integrations.NoRedirects(client)
	}
	return &Notifier{name: name, key: routingKey, url: eventsURL, changeURL: cu.String(), source: "patchpilot", client: client}, nil
}

// Name is the integration's name.
func (p *Notifier) Name() string { return p.name }

// Event is an alert event of the Events API v2.
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"` // trigger, acknowledge, resolve
	DedupKey    string   `json:"dedup_key"`
	Payload     *Payload `json:"payload,omitempty"` // trigger only
	Client      string   `json:"client,omitempty"`
	ClientURL   string   `json:"client_url,omitempty"`
	Links       []Link   `json:"links,omitempty"`
}

// Payload is a trigger's payload (PD-CEF).
type Payload struct {
	Summary       string         `json:"summary"` // at most 1024 characters
	Source        string         `json:"source"`
	Severity      string         `json:"severity"` // critical, error, warning, info
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// Link is a link shown with the alert.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// ChangeEvent is a change event: shown on the service's timeline, it
// never pages. Test notifications are sent as one.
type ChangeEvent struct {
	RoutingKey string        `json:"routing_key"`
	Payload    ChangePayload `json:"payload"`
	Links      []Link        `json:"links,omitempty"`
}

// ChangePayload is a change event's payload.
type ChangePayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source,omitempty"`
	Timestamp     string         `json:"timestamp,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// Limits of the Events API v2.
const (
	maxSummary = 1024
	maxDedup   = 255
)

// RolloutKey is the dedup key of a rollout's alert.
func RolloutKey(rollout string) string { return integrations.Clip("patchpilot/"+rollout, maxDedup) }

// IncidentKey is the dedup key of an incident's alert.
func IncidentKey(rollout string, id int64) string {
	return integrations.Clip(fmt.Sprintf("patchpilot/%s/incident/%d", rollout, id), maxDedup)
}

// Events returns the alert events a notification sends, in order: a
// trigger for halted, incident and rollback_failed; resolves of the
// rollout's alert and of each of its incidents' for recovered and for a
// rollout that finished succeeded or rolled back (told as rollout_finished
// and rolled_back); none for other topics, and none for a dry-run
// rollout (it changes nothing: nobody is paged for it, and it never
// triggered an alert to resolve).
func (p *Notifier) Events(n patchpilot.Notification) []Event {
	if n.Rollout == nil && n.Event.Rollout == "" {
		return nil
	}
	if n.Rollout != nil && n.Rollout.DryRun {
		return nil
	}
	rollout := n.Event.Rollout
	if n.Rollout != nil {
		rollout = n.Rollout.ID
	}
	base := Event{RoutingKey: p.key, Client: "patchpilot", ClientURL: n.URL}
	if n.URL != "" {
		base.Links = []Link{{Href: n.URL, Text: "Rollout " + rollout + " on the patchpilot dashboard"}}
	}
	switch n.Topic {
	case patchpilot.TopicHalted, patchpilot.TopicRollbackFailed, patchpilot.TopicIncident:
		e := base
		e.EventAction = "trigger"
		e.DedupKey = RolloutKey(rollout)
		if n.Topic == patchpilot.TopicIncident {
			if _, id := integrations.IncidentOf(n.Event); id > 0 {
				e.DedupKey = IncidentKey(rollout, id)
			}
		}
		e.Payload = p.payload(n)
		return []Event{e}
	case patchpilot.TopicRecovered:
		return p.resolves(base, rollout, n)
	case patchpilot.TopicRolloutFinished, patchpilot.TopicRolledBack:
		// A rollout that ends rolled back is told as rolled_back: every
		// host was restored, so its alerts are resolved as for a success.
		if n.Rollout != nil && (n.Rollout.State == patchpilot.RolloutSucceeded || n.Rollout.State == patchpilot.RolloutRolledBack) {
			return p.resolves(base, rollout, n)
		}
	}
	return nil
}

func (p *Notifier) resolves(base Event, rollout string, n patchpilot.Notification) []Event {
	base.Client, base.ClientURL, base.Links = "", "", nil
	keys := []string{RolloutKey(rollout)}
	for _, inc := range n.Incidents {
		keys = append(keys, IncidentKey(rollout, inc.ID))
	}
	var out []Event
	for _, k := range keys {
		e := base
		e.EventAction, e.DedupKey = "resolve", k
		out = append(out, e)
	}
	return out
}

// severity maps the notification's level; a halt or an incident is at
// least "error" and a failed rollback (a host in an unknown state) is
// "critical".
func severity(n patchpilot.Notification) string {
	if n.Topic == patchpilot.TopicRollbackFailed || n.Level == patchpilot.LevelCritical {
		return "critical"
	}
	if n.Topic == patchpilot.TopicHalted || n.Topic == patchpilot.TopicIncident {
		return "error"
	}
	if n.Level == patchpilot.LevelWarning {
		return "warning"
	}
	return "info"
}

func (p *Notifier) payload(n patchpilot.Notification) *Payload {
	f := integrations.RolloutFacts(n)
	summary := integrations.OneLine(n.Summary)
	if summary == "" {
		summary = integrations.OneLine(n.Event.Message)
	}
	pl := &Payload{
		Summary:   integrations.Clip(summary, maxSummary),
		Source:    p.source,
		Severity:  severity(n),
		Component: "rollout",
		Group:     f.Plan,
		Class:     string(n.Topic),
	}
	if !n.Event.Time.IsZero() {
		pl.Timestamp = n.Event.Time.UTC().Format(time.RFC3339Nano)
	}
	if n.Event.Host != "" {
		pl.Source = integrations.OneLine(n.Event.Host)
	}
	if f.Stage != "" {
		pl.Component = "stage " + f.Stage
	}
	d := map[string]any{
		"rollout": f.Rollout, "plan": f.Plan, "state": f.State, "hosts": f.HostLine(),
		"event_id": n.Event.ID, "event": n.Event.Kind,
	}
	if f.Stage != "" {
		d["stage"] = f.Stage
	}
	if f.Reason != "" {
		d["reason"] = f.Reason
	}
	if n.Event.Message != "" {
		d["message"] = n.Event.Message
	}
	var failed []string
	for _, h := range f.FailedHosts {
		failed = append(failed, fmt.Sprintf("%s (%s, %s): %s", h.Host, h.Stage, h.State, h.Reason))
	}
	if n.Topic == patchpilot.TopicIncident {
		data, id := integrations.IncidentOf(n.Event)
		if id > 0 {
			d["incident"] = id
		}
		failed = failed[:0]
		for _, h := range data.Hosts {
			failed = append(failed, fmt.Sprintf("%s (%s): %s", h.Host, h.State, h.Reason))
		}
		if len(data.RolledBack) > 0 {
			d["rolled_back"] = data.RolledBack
		}
	}
	if len(failed) > 0 {
		if len(failed) > 50 {
			failed = append(failed[:50], fmt.Sprintf("and %d more", len(failed)-50))
		}
		d["failed_hosts"] = failed
	}
	pl.CustomDetails = d
	return pl
}

// Notify sends the notification's events; topics without events send
// nothing. A test notification is sent as a change event, which shows on
// the service without paging anyone.
func (p *Notifier) Notify(ctx context.Context, n patchpilot.Notification) error {
	if n.Topic == patchpilot.TopicTest {
		ce := ChangeEvent{RoutingKey: p.key, Payload: ChangePayload{
			Summary: integrations.Clip(orDefault(integrations.OneLine(n.Summary), "patchpilot test notification"), maxSummary),
			Source:  p.source,
		}}
		if !n.Event.Time.IsZero() {
			ce.Payload.Timestamp = n.Event.Time.UTC().Format(time.RFC3339Nano)
		}
		if n.URL != "" {
			ce.Links = []Link{{Href: n.URL, Text: "patchpilot dashboard"}}
		}
		return p.post(ctx, p.changeURL, ce)
	}
	for _, e := range p.Events(n) {
		if err := p.post(ctx, p.url, e); err != nil {
			return err
		}
	}
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// answer is the Events API's JSON answer.
type answer struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key"`
	Errors   []string `json:"errors"`
}

func (p *Notifier) post(ctx context.Context, to string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, to, bytes.NewReader(body))
	if err != nil {
		return &patchpilot.DeliveryError{Service: Type, Message: "the events URL is not usable; check url"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "patchpilot")
	resp, err := p.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if de, ok := integrations.RedirectRefused(Type, err); ok {
			de.Message = "PagerDuty " + de.Message
			return de
		}
		return &patchpilot.DeliveryError{Service: Type, Message: "could not reach PagerDuty: " + integrations.RedactError(err), Retryable: true}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	return mapAnswer(resp, raw)
}

// mapAnswer maps the Events API's answer: 202 accepted; 400 an invalid
// event (its errors shown; not retried); 429 too many events (retried,
// after Retry-After when given); 5xx retried; anything else not retried.
func mapAnswer(resp *http.Response, raw []byte) error {
	var a answer
	_ = json.Unmarshal(raw, &a) // a body that is not the API's JSON is shown as text
	if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK {
		return nil
	}
	text := a.Message
	if len(a.Errors) > 0 {
		text = strings.TrimSpace(text + ": " + strings.Join(a.Errors, "; "))
	}
	if text == "" {
		text = integrations.Clip(integrations.OneLine(strings.TrimSpace(string(raw))), 300)
	}
	text = integrations.Clip(integrations.OneLine(text), 600)
	e := &patchpilot.DeliveryError{Service: Type, Status: resp.StatusCode}
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests:
		e.Retryable = true
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"))
		e.Message = "too many events for this integration key (about 120 a minute)"
	case s >= 500:
		e.Retryable = true
		e.Message = orDefault(text, "server error") + ": PagerDuty failed; sending again later may succeed"
	case s == http.StatusBadRequest:
		e.Message = "invalid event: " + orDefault(text, "no reason given")
		if strings.Contains(strings.ToLower(text), "routing") {
			e.Message += "; check routing_key (the Integration Key of an Events API v2 integration)"
		}
	case s == http.StatusUnauthorized || s == http.StatusForbidden || s == http.StatusNotFound:
		e.Message = orDefault(text, http.StatusText(s)) + ": check routing_key and url"
	default:
		e.Message = orDefault(text, http.StatusText(s))
	}
	return e
}

func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
