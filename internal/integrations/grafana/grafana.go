// Package grafana posts a rollout's moments as Grafana annotations (HTTP
// API, POST /api/annotations) so that they show on the team's dashboards:
// a point at the rollout's start, at each stage's end, at rollbacks, halts
// and incidents, and on finish the start annotation becomes a region from
// start to end (PATCH /api/annotations/:id with timeEnd). The start
// annotation is found again by its tags (GET /api/annotations), so that no
// id needs remembering and a restart between start and finish loses
// nothing. A service account token authenticates (Authorization: Bearer);
// it needs the annotations:write and annotations:read permissions.
package grafana

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
)

// Type is the integration type of patchpilot.yaml.
const Type = "grafana"

// DefaultTimeout bounds one request.
const DefaultTimeout = 15 * time.Second

// Tags every annotation carries: TagPatchpilot, "rollout:ID", and
// TagStart on a rollout's start (and region) annotation.
const (
	TagPatchpilot = "patchpilot"
	TagStart      = "patchpilot-rollout"
)

// Settings are a grafana integration's keys in patchpilot.yaml.
type Settings struct {
	// URL is Grafana's base URL, https://grafana.example.com.
	URL string `yaml:"url"`
	// Token is a service account token.
	Token integrations.Secret `yaml:"token"`
	// DashboardUID and PanelID pin the annotations to a dashboard (and a
	// panel); empty makes them organisation annotations, which any
	// dashboard shows through an annotation query on the patchpilot tag.
	DashboardUID string `yaml:"dashboard_uid"`
	PanelID      int    `yaml:"panel_id"`
	// Tags are added to every annotation ("env:prod").
	Tags []string `yaml:"tags"`
}

// Client posts annotations to one Grafana. It is safe for concurrent use.
type Client struct {
	name    string
	base    *url.URL
	token   string
	set     Settings
	http    *http.Client
	timeout time.Duration
}

// Options are a Client's dependencies; zero values are defaults.
type Options struct {
	HTTPClient *http.Client
	Timeout    time.Duration
}

// New builds the notifier of an integration spec.
func New(spec integrations.Spec, getenv func(string) string, o Options) (*Client, error) {
	var s Settings
	if err := integrations.DecodeSettings(spec, &s); err != nil {
		return nil, err
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: expected Grafana's base URL such as https://grafana.example.com, got %q", spec.At("url"), integrations.RedactURL(s.URL))
	}
	if s.PanelID < 0 || (s.PanelID != 0 && s.DashboardUID == "") {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: a panel needs its dashboard_uid", spec.At("panel_id"))
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Client{name: spec.Name, base: u, set: s, http: o.HTTPClient, timeout: o.Timeout}
	if c.token, err = s.Token.Resolve(spec.At("token"), getenv); err != nil {
		return nil, err
	}
	c.http = integrations.NoRedirects(c.http)
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	return c, nil
}

// Name is the integration's name.
func (c *Client) Name() string { return c.name }

var _ patchpilot.Notifier = (*Client)(nil)

// Annotation is the body of POST /api/annotations, and an annotation of
// GET /api/annotations.
type Annotation struct {
	ID           int64    `json:"id,omitempty"`
	DashboardUID string   `json:"dashboardUID,omitempty"`
	PanelID      int      `json:"panelId,omitempty"`
	Time         int64    `json:"time"`
	TimeEnd      int64    `json:"timeEnd,omitempty"`
	Tags         []string `json:"tags"`
	Text         string   `json:"text"`
}

// Notify annotates the notification's moment. A rollout's start is
// created once (a retry finds it); its finish turns the start into a
// region once (Grafana lists a point with timeEnd equal to its time, a
// region with a later one), or is a point of its own when the start is
// not found.
func (c *Client) Notify(ctx context.Context, n patchpilot.Notification) error {
	rollout := n.Event.Rollout
	if n.Rollout != nil {
		rollout = n.Rollout.ID
	}
	at := n.Event.Time
	if at.IsZero() {
		at = time.Now()
	}
	a := Annotation{DashboardUID: c.set.DashboardUID, PanelID: c.set.PanelID, Time: at.UnixMilli(),
		Tags: c.tags(rollout, n.Topic), Text: text(n)}
	switch {
	case n.Topic == patchpilot.TopicRolloutStarted && rollout != "":
		start, err := c.findStart(ctx, rollout)
		if err != nil {
			return err
		}
		if start != nil {
			return nil // delivered before a retry
		}
		a.Tags = append(a.Tags, TagStart)
		return c.create(ctx, a)
	case n.Topic == patchpilot.TopicRolloutFinished && rollout != "":
		start, err := c.findStart(ctx, rollout)
		if err != nil {
			return err
		}
		switch {
		case start == nil || start.Time >= a.Time:
			return c.create(ctx, a)
		case start.TimeEnd > start.Time:
			return nil // already a region: delivered before a retry
		}
		return c.region(ctx, *start, a)
	}
	return c.create(ctx, a)
}

// tags are an annotation's tags.
func (c *Client) tags(rollout string, topic patchpilot.Topic) []string {
	tags := []string{TagPatchpilot, "patchpilot:" + string(topic)}
	if rollout != "" {
		tags = append(tags, "rollout:"+rollout)
	}
	return append(tags, c.set.Tags...)
}

// text is the annotation's text, which Grafana shows as HTML: what comes
// from plans, hosts and people (the summary names them) is escaped.
func text(n patchpilot.Notification) string {
	var b strings.Builder
	b.WriteString(html.EscapeString(n.Summary))
	if b.Len() == 0 {
		b.WriteString("patchpilot: " + html.EscapeString(string(n.Topic)))
	}
	if n.Rollout != nil && n.Rollout.Reason != "" && !strings.Contains(n.Summary, n.Rollout.Reason) {
		b.WriteString(" (" + html.EscapeString(n.Rollout.Reason) + ")")
	}
	if n.URL != "" {
		fmt.Fprintf(&b, ` <a href="%s">rollout</a>`, html.EscapeString(n.URL))
	}
	return b.String()
}

// findStart finds the start annotation of a rollout by its tags.
func (c *Client) findStart(ctx context.Context, rollout string) (*Annotation, error) {
	q := url.Values{"tags": {TagStart, "rollout:" + rollout}, "type": {"annotation"}, "matchAny": {"false"}, "limit": {"1"}}
	body, err := c.do(ctx, http.MethodGet, "/api/annotations", q, nil)
	if err != nil {
		return nil, err
	}
	var as []Annotation
	if err := json.Unmarshal(body, &as); err != nil {
		return nil, &patchpilot.DeliveryError{Service: Type, Status: http.StatusOK, Message: "the annotation list is not JSON: " + snippet(body)}
	}
	if len(as) == 0 {
		return nil, nil
	}
	return &as[0], nil
}

func (c *Client) create(ctx context.Context, a Annotation) error {
	body, err := json.Marshal(a)
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "grafana annotation: %w", err)
	}
	_, err = c.do(ctx, http.MethodPost, "/api/annotations", nil, body)
	return err
}

// region extends the start annotation to the finish: its end, the
// finish's text after the start's, and the finish's tags.
func (c *Client) region(ctx context.Context, start, finish Annotation) error {
	tags := append([]string(nil), finish.Tags...)
	tags = append(tags, TagStart)
	patch := map[string]any{"time": start.Time, "timeEnd": finish.Time, "text": start.Text + "<br>" + finish.Text, "tags": tags}
	body, err := json.Marshal(patch)
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "grafana annotation: %w", err)
	}
	_, err = c.do(ctx, http.MethodPatch, "/api/annotations/"+strconv.FormatInt(start.ID, 10), nil, body)
	return err
}

// do sends one request; a refusal or failure is a *patchpilot.DeliveryError.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := *c.base
	u.Path += path
	if q != nil {
		u.RawQuery = q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINTERNAL, "grafana request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil, patchpilot.Errorf(patchpilot.ECANCELED, "grafana: %w", ctx.Err())
		}
		if de, ok := integrations.RedirectRefused(Type, err); ok {
			de.Message = c.base.Host + " " + de.Message
			return nil, de
		}
		msg := "no answer from " + c.base.Host + ": " + integrations.RedactError(err, c.token)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			msg = fmt.Sprintf("no answer from %s within %s", c.base.Host, c.timeout)
		}
		return nil, &patchpilot.DeliveryError{Service: Type, Message: msg, Retryable: true}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, &patchpilot.DeliveryError{Service: Type, Status: resp.StatusCode, Message: "reading the answer: " + integrations.RedactError(err, c.token), Retryable: true}
	}
	if resp.StatusCode/100 == 2 {
		return data, nil
	}
	e := &patchpilot.DeliveryError{Service: Type, Status: resp.StatusCode, Message: method + " " + path + ": " + integrations.RedactText(errorText(data), c.token)}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		e.Retryable = true
		if v, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && v >= 0 {
			e.RetryAfter = time.Duration(v) * time.Second
		}
	case resp.StatusCode >= 500:
		e.Retryable = true
	case resp.StatusCode == http.StatusUnauthorized:
		e.Message += " (check the integration's token: a Grafana service account token)"
	case resp.StatusCode == http.StatusForbidden:
		e.Message += " (the service account needs the annotations:read and annotations:write permissions, e.g. the Editor role)"
	}
	return nil, e
}

// errorText reads Grafana's {"message": "..."} answer, or the body.
func errorText(body []byte) string {
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &m) == nil && m.Message != "" {
		return m.Message
	}
	return snippet(body)
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
