// Package webhook is the generic webhook integration: each notification is
// POSTed as JSON (Payload, version 1) to a URL, signed with HMAC-SHA256 so
// that the receiver knows it comes from patchpilot, and named by an
// idempotency key so that a repeated delivery can be recognised.
//
// The request:
//
//	POST <url>
//	Content-Type: application/json
//	User-Agent: patchpilot-webhook/1
//	X-Patchpilot-Topic: halted
//	Idempotency-Key: patchpilot-event-1234
//	X-Patchpilot-Signature: t=1767225600,v1=<hex HMAC-SHA256(secret, "1767225600." + body)>
//
// A receiver checks the signature and the timestamp with Verify (or its
// own code doing the same), and drops a request whose Idempotency-Key it
// has already handled.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
)

// Version is the version of Payload's shape. Fields are only added within
// a version.
const Version = 1

// The headers.
const (
	HeaderSignature   = "X-Patchpilot-Signature"
	HeaderTopic       = "X-Patchpilot-Topic"
	HeaderIdempotency = "Idempotency-Key"
	userAgent         = "patchpilot-webhook/1"
)

// DefaultTolerance is how old (or how far in the future) a signature's
// timestamp may be for Verify.
const DefaultTolerance = 5 * time.Minute

// Settings are the webhook's keys in patchpilot.yaml.
type Settings struct {
	// URL receives the POSTs: http or https.
	URL string `yaml:"url"`
	// Secret is the HMAC key, shared with the receiver.
	Secret integrations.Secret `yaml:"secret"`
	// Timeout bounds one request ("10s"); default 10s.
	Timeout string `yaml:"timeout"`
}

// Payload is the JSON body: a notification in a stable shape.
type Payload struct {
	Version int              `json:"version"`
	ID      string           `json:"id"` // the idempotency key, as in the header
	Topic   patchpilot.Topic `json:"topic"`
	Level   patchpilot.Level `json:"level"`
	Summary string           `json:"summary"`
	URL     string           `json:"url,omitempty"`
	Event   Event            `json:"event"`
	Rollout *Rollout         `json:"rollout,omitempty"`
}

// Event is the event of the log the notification comes from; ID 0 for a
// test notification.
type Event struct {
	ID      int64           `json:"id"`
	Time    time.Time       `json:"time"`
	Kind    string          `json:"kind"`
	Actor   string          `json:"actor,omitempty"`
	Host    string          `json:"host,omitempty"`
	Rollout string          `json:"rollout,omitempty"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// Rollout is the rollout as it stood when the notification was built.
type Rollout struct {
	ID        string                  `json:"id"`
	Plan      string                  `json:"plan,omitempty"`
	State     patchpilot.RolloutState `json:"state"`
	Reason    string                  `json:"reason,omitempty"`
	CreatedBy string                  `json:"created_by,omitempty"`
	CreatedAt time.Time               `json:"created_at"`
	DryRun    bool                    `json:"dry_run,omitempty"`
	Stages    []Stage                 `json:"stages"`
}

// Stage is one stage of the rollout.
type Stage struct {
	Name   string                `json:"name"`
	State  patchpilot.StageState `json:"state"`
	Hosts  int                   `json:"hosts"`
	Reason string                `json:"reason,omitempty"`
}

// Notifier posts notifications to one webhook.
type Notifier struct {
	name   string
	url    string
	secret []byte
	client *http.Client
	now    func() time.Time
}

// New builds the webhook of spec: its URL and its secret, read now.
func New(spec integrations.Spec, getenv func(string) string, now func() time.Time) (*Notifier, error) {
	var s Settings
	if err := integrations.DecodeSettings(spec, &s); err != nil {
		return nil, err
	}
	u, err := url.Parse(s.URL)
	if s.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: expected the http or https URL the notifications are posted to, got %q", spec.At("url"), integrations.RedactURL(s.URL))
	}
	timeout := 10 * time.Second
	if s.Timeout != "" {
		if timeout, err = time.ParseDuration(s.Timeout); err != nil || timeout <= 0 {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: expected a positive duration such as 10s, got %q", spec.At("timeout"), s.Timeout)
		}
	}
	secret, err := s.Secret.Resolve(spec.At("secret"), getenv)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &Notifier{name: spec.Name, url: s.URL, secret: []byte(secret), client: integrations.NewHTTPClient(timeout), now: now}, nil
}

// Name is the integration's name.
func (w *Notifier) Name() string { return w.name }

// Notify posts the notification. A 2xx answer is success; 429 and 5xx
// and network errors may be retried (with the Retry-After), other answers
// are refusals.
func (w *Notifier) Notify(ctx context.Context, n patchpilot.Notification) error {
	p := NewPayload(n)
	body, err := json.Marshal(p)
	if err != nil {
		return &patchpilot.DeliveryError{Service: "webhook", Message: "encode the notification: " + err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return &patchpilot.DeliveryError{Service: "webhook", Message: "build the request: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(HeaderTopic, string(n.Topic))
	req.Header.Set(HeaderIdempotency, p.ID)
	req.Header.Set(HeaderSignature, Sign(w.secret, w.now(), body))
	resp, err := w.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if de, ok := integrations.RedirectRefused("webhook", err); ok {
			de.Message = integrations.RedactURL(w.url) + " " + de.Message
			return de
		}
		return &patchpilot.DeliveryError{Service: "webhook", Message: "post to " + integrations.RedactURL(w.url) + ": " + netReason(err), Retryable: true}
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	de := &patchpilot.DeliveryError{Service: "webhook", Status: resp.StatusCode, Message: trim(string(text))}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		de.Retryable, de.RetryAfter = true, retryAfter(resp.Header.Get("Retry-After"), w.now())
		de.Message = join("rate limited", de.Message)
	case resp.StatusCode >= 500:
		de.Retryable, de.RetryAfter = true, retryAfter(resp.Header.Get("Retry-After"), w.now())
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		de.Message = join("the receiver refused the signature: check that it verifies with the same secret", de.Message)
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed:
		de.Message = join("check the url: the receiver does not take POSTs there", de.Message)
	default:
		de.Message = join("the receiver refused the notification", de.Message)
	}
	return de
}

// NewPayload is the body posted for a notification.
func NewPayload(n patchpilot.Notification) Payload {
	p := Payload{Version: Version, ID: IdempotencyKey(n), Topic: n.Topic, Level: n.Level, Summary: n.Summary, URL: n.URL,
		Event: Event{ID: n.Event.ID, Time: n.Event.Time.UTC(), Kind: n.Event.Kind, Actor: n.Event.Actor, Host: n.Event.Host,
			Rollout: n.Event.Rollout, Message: n.Event.Message, Data: n.Event.Data}}
	if r := n.Rollout; r != nil {
		p.Rollout = &Rollout{ID: r.ID, Plan: r.Plan.Name, State: r.State, Reason: r.Reason, CreatedBy: r.CreatedBy,
			CreatedAt: r.CreatedAt.UTC(), DryRun: r.DryRun, Stages: []Stage{}}
		for _, s := range r.Stages {
			p.Rollout.Stages = append(p.Rollout.Stages, Stage{Name: s.Name, State: s.State, Hosts: len(s.Hosts), Reason: s.Reason})
		}
	}
	return p
}

// IdempotencyKey names a notification: "patchpilot-event-ID", the same
// for every delivery of the event; a test notification's names its time.
func IdempotencyKey(n patchpilot.Notification) string {
	if n.Event.ID == 0 {
		return fmt.Sprintf("patchpilot-test-%d", n.Event.Time.UnixNano())
	}
	return fmt.Sprintf("patchpilot-event-%d", n.Event.ID)
}

// Sign is the signature header's value for body sent at t:
// "t=UNIX,v1=HEX", HEX the HMAC-SHA256 of "UNIX.body" with secret.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a request as a receiver should: header is the
// X-Patchpilot-Signature value, body the raw body as received. The
// signature must be one of the v1 values (a receiver rotating secrets
// calls Verify with each), and its timestamp within tolerance of now
// (DefaultTolerance when 0), so that a captured request cannot be
// replayed later; within the window, the receiver drops an
// Idempotency-Key it has seen.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return errors.New("signature header: expected t=UNIX,v1=HEX")
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return errors.New("signature header: expected t=UNIX,v1=HEX")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("signature header: timestamp %q is not a Unix time", ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("signature timestamp %s is %s away from now, beyond the tolerance of %s: a replay, or a clock off",
			time.Unix(sec, 0).UTC().Format(time.RFC3339), d.Abs().Round(time.Second), tolerance)
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return errors.New("signature does not match the body: another secret, or a changed body")
}

func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// netReason is a network error without the URL that *url.Error repeats
// (with its query).
func netReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return integrations.RedactError(ue.Err)
	}
	return integrations.RedactError(err)
}

func trim(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func join(a, b string) string {
	if b == "" {
		return a
	}
	return a + ": " + b
}
