// Package slack posts notifications to a Slack channel through an incoming
// webhook: a Block Kit message (a header, the summary, the rollout's facts
// as fields, a context line and, when a stage waits for approval, a button
// to the dashboard's approval form) with a plain-text fallback.
//
// The webhook URL is the credential: it is read from an environment
// variable or a file and never printed, logged or put into an error.
package slack

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
const Type = "slack"

// Settings are the type's keys in patchpilot.yaml.
type Settings struct {
	// WebhookURL is the incoming webhook's URL
	// (https://hooks.slack.com/services/T…/B…/…), a secret.
	WebhookURL integrations.Secret `yaml:"webhook_url"`
}

// Timeout bounds one request to Slack.
const Timeout = 15 * time.Second

// Notifier posts to one incoming webhook.
type Notifier struct {
	name   string
	url    string
	client *http.Client
}

// Build reads a spec's settings, resolves the webhook URL with getenv and
// checks it. Errors name the spec's file and line, never the URL.
func Build(s integrations.Spec, getenv func(string) string) (*Notifier, error) {
	var st Settings
	if err := integrations.DecodeSettings(s, &st); err != nil {
		return nil, err
	}
	if st.WebhookURL.IsZero() {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: missing; expected {env: VARIABLE} or {file: /path} holding the incoming webhook's URL", s.At("webhook_url"))
	}
	u, err := st.WebhookURL.Resolve(s.At("webhook_url"), getenv)
	if err != nil {
		return nil, err
	}
	if err := checkURL(u); err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s (from %s): %s", s.At("webhook_url"), st.WebhookURL, err)
	}
	return New(s.Name, u, nil), nil
}

// checkURL accepts an https URL with a host and a path, and plain http
// only to a loopback address (a relay on the same machine, or a test).
// Its errors never quote the URL.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("expected a URL such as https://hooks.slack.com/services/T000/B000/XXXX; it does not parse")
	}
	if u.Host == "" || (u.Path == "" || u.Path == "/") {
		return errors.New("expected a URL such as https://hooks.slack.com/services/T000/B000/XXXX, with a host and a path")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback(u.Hostname()) {
			return errors.New("expected an https URL: plain http would send the webhook's credential in clear (http is accepted only to a loopback address)")
		}
	default:
		return fmt.Errorf("expected an https URL, got scheme %q", u.Scheme)
	}
	if u.User != nil {
		return errors.New("expected no user:password@ in the URL")
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// New returns a notifier posting to webhookURL with client (nil: a client
// with Timeout).
func New(name, webhookURL string, client *http.Client) *Notifier {
	if client == nil {
		client = integrations.NewHTTPClient(Timeout)
	} else {
		client = integrations.NoRedirects(client)
	}
	return &Notifier{name: name, url: webhookURL, client: client}
}

// Name is the integration's name.
func (s *Notifier) Name() string { return s.name }

// Notify posts the notification's message. Slack answers 200 "ok"; any
// other answer is a *patchpilot.DeliveryError saying what to check.
func (s *Notifier) Notify(ctx context.Context, n patchpilot.Notification) error {
	body, err := json.Marshal(Message(n))
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return &patchpilot.DeliveryError{Service: Type, Message: "the webhook URL is not usable; check webhook_url"}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "patchpilot")
	resp, err := s.client.Do(req)
	if err != nil {
		return networkError(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return answer(resp, strings.TrimSpace(string(raw)))
}

// networkError reports a failure to reach Slack without the URL that
// net/http puts into its errors (the URL is the credential).
func networkError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.Canceled) {
		return &patchpilot.DeliveryError{Service: Type, Message: "cancelled", Retryable: true}
	}
	if de, ok := integrations.RedirectRefused(Type, err); ok {
		de.Message = "Slack's webhook_url " + de.Message
		return de
	}
	return &patchpilot.DeliveryError{Service: Type, Message: "could not reach Slack: " + integrations.RedactError(err), Retryable: true}
}

// answer maps Slack's answer to nil or a DeliveryError. The incoming
// webhook answers 200 "ok", or an error string in the body with the
// status: 400 invalid_payload, invalid_blocks, no_text, user_not_found;
// 403 action_prohibited, posting_to_general_channel_denied,
// invalid_token; 404 no_service, channel_not_found, no_team,
// team_disabled; 410 channel_is_archived; 429 with Retry-After; 5xx
// (rollup_error).
func answer(resp *http.Response, body string) error {
	code := integrations.Clip(integrations.OneLine(body), 200)
	if resp.StatusCode == http.StatusOK {
		if body == "ok" || body == "" {
			return nil
		}
		return &patchpilot.DeliveryError{Service: Type, Status: resp.StatusCode, Message: "unexpected answer " + strconv.Quote(code) + " (expected \"ok\"); check that webhook_url is a Slack incoming webhook"}
	}
	e := &patchpilot.DeliveryError{Service: Type, Status: resp.StatusCode}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		e.Retryable = true
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"))
		e.Message = "rate limited (Slack takes about one message a second per webhook)"
		return e
	case resp.StatusCode >= 500:
		e.Retryable = true
		e.Message = orDefault(code, "server error") + ": Slack failed; sending again later may succeed"
		return e
	}
	hint, ok := hints[body]
	switch {
	case ok:
		e.Message = body + ": " + hint
	case resp.StatusCode == http.StatusForbidden:
		e.Message = orDefault(code, "forbidden") + ": the workspace refuses this webhook; check webhook_url"
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		e.Message = orDefault(code, "not found") + ": the webhook or its channel is gone; create a new incoming webhook and update webhook_url"
	default:
		e.Message = orDefault(code, "refused") + ": Slack refused the message"
	}
	return e
}

var hints = map[string]string{
	"invalid_payload":                   "Slack could not read the message (a patchpilot bug: please report it)",
	"invalid_blocks":                    "Slack refused the message's blocks (a patchpilot bug: please report it)",
	"invalid_blocks_format":             "Slack refused the message's blocks (a patchpilot bug: please report it)",
	"no_text":                           "the message had no text (a patchpilot bug: please report it)",
	"user_not_found":                    "the webhook's user does not exist; create a new incoming webhook and update webhook_url",
	"action_prohibited":                 "an admin restricted posting to this channel; ask a Slack admin, or use a webhook of another channel",
	"posting_to_general_channel_denied": "only admins may post to this channel; use a webhook of another channel",
	"invalid_token":                     "the webhook's token is no longer valid; create a new incoming webhook and update webhook_url",
	"no_service":                        "the webhook was removed or its app uninstalled; create a new incoming webhook and update webhook_url",
	"no_service_id":                     "the webhook URL is incomplete; copy it again into webhook_url",
	"no_team":                           "the workspace is gone; create a new incoming webhook and update webhook_url",
	"team_disabled":                     "the workspace is disabled; create a new incoming webhook and update webhook_url",
	"channel_not_found":                 "the webhook's channel was deleted; create a new incoming webhook and update webhook_url",
	"channel_is_archived":               "the webhook's channel is archived; unarchive it, or create a webhook for another channel",
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// retryAfter reads a Retry-After of seconds or an HTTP date; 0 when
// absent or unreadable.
func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
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
