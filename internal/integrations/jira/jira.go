// Package jira records rollouts in Jira through its REST API version 2
// (Jira Cloud, and Jira Server and Data Center, which speak the same
// version): an issue opened when a rollout starts, with its plan; a comment
// at each stage, halt, rollback and incident; and, when it ends, a comment
// with the outcome and a transition by name (Done, or the ones configured).
//
// Version 2 is used rather than Cloud's version 3 because it takes plain
// text for descriptions and comments and is the one version Server and
// Data Center share with Cloud.
//
// The issue a rollout opened is found again from the store's change record
// (and, when the record is missing, by the label patchpilot-ROLLOUT), so a
// restart or a retried notification never opens a second one; comments
// carry a marker naming their event, and a retried comment whose marker is
// already on the issue is not written again.
package jira

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
)

// Type is the integration type's name in patchpilot.yaml.
const Type = "jira"

// Settings are the jira type's keys in patchpilot.yaml.
type Settings struct {
	// URL is the site's base URL: https://example.atlassian.net, or a
	// Data Center base URL with its context path.
	URL string `yaml:"url"`
	// User is the account's e-mail (Cloud) or name (Server) for basic
	// authentication with Token; without User, Token is sent as a
	// bearer token (a Data Center personal access token).
	User  string              `yaml:"user"`
	Token integrations.Secret `yaml:"token"`
	// Project is the key of the project issues are opened in ("OPS").
	Project string `yaml:"project"`
	// IssueType names the type of the issues opened. Default "Task".
	IssueType string `yaml:"issue_type"`
	// Labels are added to the issues beside "patchpilot" and
	// "patchpilot-ROLLOUT".
	Labels []string `yaml:"labels"`
	// SuccessTransition and FailureTransition name the transition (or
	// the status it leads to) made when a rollout succeeds or ends
	// otherwise. Defaults "Done", and the success transition.
	SuccessTransition string `yaml:"success_transition"`
	FailureTransition string `yaml:"failure_transition"`
	// Deployment is "cloud" or "datacenter" (Server too): Cloud searches
	// with /rest/api/2/search/jql, the others with /rest/api/2/search.
	// Default: cloud for *.atlassian.net, datacenter otherwise.
	Deployment string `yaml:"deployment"`
}

// Notifier is a jira integration.
type Notifier struct {
	name    string
	s       Settings
	base    string
	token   string
	auth    string
	cloud   bool
	records patchpilot.ChangeRecordStore
	HTTP    *http.Client
	Now     func() time.Time
	// Risk, when set, assesses the rollout's patch for the issue's
	// description.
	Risk integrations.RiskFunc
}

// New builds the integration of a spec; getenv reads its secret's
// variable. records keeps the rollout's issue; nil finds it by label
// each time.
func New(spec integrations.Spec, getenv func(string) string, records patchpilot.ChangeRecordStore) (*Notifier, error) {
	var s Settings
	if err := integrations.DecodeSettings(spec, &s); err != nil {
		return nil, err
	}
	base, err := integrations.CheckBaseURL(spec, "url", s.URL, "https://example.atlassian.net")
	if err != nil {
		return nil, err
	}
	if s.Project == "" || strings.ContainsAny(s.Project, " \"'") {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: expected a project key such as OPS, got %q", spec.At("project"), s.Project)
	}
	if s.IssueType == "" {
		s.IssueType = "Task"
	}
	if s.SuccessTransition == "" {
		s.SuccessTransition = "Done"
	}
	if s.FailureTransition == "" {
		s.FailureTransition = s.SuccessTransition
	}
	for i, l := range s.Labels {
		if l == "" || strings.ContainsAny(l, " \t\n") {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s[%d]: expected a label without spaces, got %q", spec.At("labels"), i, l)
		}
	}
	cloud := strings.HasSuffix(hostOf(base), ".atlassian.net")
	switch s.Deployment {
	case "":
	case "cloud":
		cloud = true
	case "datacenter", "server":
		cloud = false
	default:
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: expected cloud or datacenter, got %q", spec.At("deployment"), s.Deployment)
	}
	token, err := s.Token.Resolve(spec.At("token"), getenv)
	if err != nil {
		return nil, err
	}
	auth := "Bearer " + token
	if s.User != "" {
		auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(s.User+":"+token))
	}
	return &Notifier{name: spec.Name, s: s, base: base, token: token, auth: auth, cloud: cloud, records: records,
		HTTP: integrations.NewHTTPClient(30 * time.Second), Now: time.Now}, nil
}

func hostOf(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// Name is the integration's name.
func (j *Notifier) Name() string { return j.name }

// Label is the label that marks the issue of a rollout.
func Label(rollout string) string { return "patchpilot-" + rollout }

func (j *Notifier) call(method, path string, body any) integrations.RESTCall {
	h := http.Header{}
	h.Set("Authorization", j.auth)
	return integrations.RESTCall{Service: "jira", Method: method, URL: j.base + path, Header: h, Body: body,
		Secrets:      []string{j.token, strings.TrimPrefix(strings.TrimPrefix(j.auth, "Basic "), "Bearer ")},
		AuthHint:     "check the integration's user and token (an API token for Jira Cloud, a personal access token without user for Data Center) and the account's permissions in project " + j.s.Project,
		NotFoundHint: "check the integration's url and project " + j.s.Project}
}

// Notify opens, comments on and transitions the rollout's issue.
func (j *Notifier) Notify(ctx context.Context, n patchpilot.Notification) error {
	if n.Topic == patchpilot.TopicTest {
		var p struct {
			Key string `json:"key"`
		}
		_, err := j.call(http.MethodGet, "/rest/api/2/project/"+url.PathEscape(j.s.Project), nil).Do(ctx, j.HTTP, &p)
		return err
	}
	if n.Rollout == nil || n.Rollout.DryRun || n.Topic == patchpilot.TopicScheduleRun {
		// A dry run changes nothing: there is no change to record. A
		// scheduled run is no change either, even one that started a
		// rollout: that rollout's own notifications record it.
		return nil
	}
	rec, err := j.issue(ctx, n)
	if err != nil {
		return err
	}
	switch n.Topic {
	case patchpilot.TopicRolloutStarted:
		return nil
	case patchpilot.TopicRolloutFinished:
		if err := j.comment(ctx, rec.Key, n, integrations.OutcomeText(n)); err != nil {
			return err
		}
		if rec.State == patchpilot.ChangeRecordClosed {
			return nil
		}
		name := j.s.SuccessTransition
		if !integrations.Succeeded(n.Rollout) {
			name = j.s.FailureTransition
		}
		if err := j.transition(ctx, rec.Key, name); err != nil {
			return err
		}
		rec.State, rec.UpdatedAt = patchpilot.ChangeRecordClosed, j.Now()
		return j.save(ctx, rec)
	}
	text := n.Summary
	if n.URL != "" {
		text += "\n" + n.URL
	}
	return j.comment(ctx, rec.Key, n, text)
}

func (j *Notifier) save(ctx context.Context, rec patchpilot.ChangeRecord) error {
	if j.records == nil {
		return nil
	}
	if err := j.records.SaveChangeRecord(ctx, rec); err != nil {
		return fmt.Errorf("jira: record issue %s of rollout %s: %w", rec.Key, rec.Rollout, err)
	}
	return nil
}

type issueRef struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

// issue returns the rollout's issue: the stored record, or the issue
// labelled for the rollout, or a new one. The record is saved once the
// issue is known.
func (j *Notifier) issue(ctx context.Context, n patchpilot.Notification) (patchpilot.ChangeRecord, error) {
	id := n.Rollout.ID
	if j.records != nil {
		rec, err := j.records.ChangeRecord(ctx, j.name, id)
		if err == nil {
			return rec, nil
		}
		if patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND {
			return rec, err
		}
	}
	rec := patchpilot.ChangeRecord{Integration: j.name, Rollout: id, State: patchpilot.ChangeRecordOpen}
	found, err := j.search(ctx, id)
	if err != nil {
		return rec, err
	}
	if found == nil {
		fields := map[string]any{
			"project":     map[string]string{"key": j.s.Project},
			"issuetype":   map[string]string{"name": j.s.IssueType},
			"summary":     summary(n.Rollout),
			"description": integrations.PlanText(n, integrations.AssessRisk(ctx, j.Risk, n.Rollout)),
			"labels":      append([]string{"patchpilot", Label(id)}, j.s.Labels...),
		}
		var created issueRef
		if _, err := j.call(http.MethodPost, "/rest/api/2/issue", map[string]any{"fields": fields}).Do(ctx, j.HTTP, &created); err != nil {
			return rec, err
		}
		if created.Key == "" || created.ID == "" {
			return rec, &patchpilot.DeliveryError{Service: "jira", Status: http.StatusCreated, Message: "the created issue's answer has no id or key"}
		}
		found = &created
	}
	rec.ExternalID, rec.Key, rec.UpdatedAt = found.ID, found.Key, j.Now()
	return rec, j.save(ctx, rec)
}

func summary(r *patchpilot.Rollout) string {
	var pkgs []string
	for _, p := range r.Plan.Patch.Packages {
		pkgs = append(pkgs, p.String())
	}
	if r.Plan.Patch.SecurityAll {
		pkgs = append(pkgs, "security updates")
	}
	s := "patchpilot rollout " + r.ID
	if r.Plan.Name != "" {
		s += " (" + r.Plan.Name + ")"
	}
	if len(pkgs) > 0 {
		s += ": " + strings.Join(pkgs, ", ")
	}
	if len(s) > 250 {
		s = s[:250] + "…"
	}
	return s
}

// search finds the issue labelled for the rollout.
func (j *Notifier) search(ctx context.Context, rollout string) (*issueRef, error) {
	q := url.Values{}
	q.Set("jql", fmt.Sprintf(`project = "%s" AND labels = "%s"`, j.s.Project, Label(rollout)))
	q.Set("fields", "key")
	q.Set("maxResults", "1")
	path := "/rest/api/2/search"
	if j.cloud {
		path = "/rest/api/2/search/jql"
	}
	var res struct {
		Issues []issueRef `json:"issues"`
	}
	if _, err := j.call(http.MethodGet, path+"?"+q.Encode(), nil).Do(ctx, j.HTTP, &res); err != nil {
		return nil, err
	}
	if len(res.Issues) == 0 {
		return nil, nil
	}
	return &res.Issues[0], nil
}

// comment adds text to the issue with the event's marker, unless a
// comment with that marker is already among the latest ones (a retry).
func (j *Notifier) comment(ctx context.Context, key string, n patchpilot.Notification, text string) error {
	marker := integrations.Marker(n)
	var list struct {
		Comments []struct {
			Body string `json:"body"`
		} `json:"comments"`
	}
	if _, err := j.call(http.MethodGet, "/rest/api/2/issue/"+url.PathEscape(key)+"/comment?orderBy=-created&maxResults=50", nil).Do(ctx, j.HTTP, &list); err != nil {
		return err
	}
	for _, c := range list.Comments {
		if strings.Contains(c.Body, marker) {
			return nil
		}
	}
	_, err := j.call(http.MethodPost, "/rest/api/2/issue/"+url.PathEscape(key)+"/comment", map[string]string{"body": text + "\n\n" + marker}).Do(ctx, j.HTTP, nil)
	return err
}

// transition moves the issue through the transition named name (or the
// one leading to the status named name). An issue already in that status
// is left as it is.
func (j *Notifier) transition(ctx context.Context, key, name string) error {
	var list struct {
		Transitions []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
			To   struct {
				Name string `json:"name"`
			} `json:"to"`
		} `json:"transitions"`
	}
	path := "/rest/api/2/issue/" + url.PathEscape(key) + "/transitions"
	if _, err := j.call(http.MethodGet, path, nil).Do(ctx, j.HTTP, &list); err != nil {
		return err
	}
	var names []string
	for _, t := range list.Transitions {
		if strings.EqualFold(t.Name, name) || strings.EqualFold(t.To.Name, name) {
			_, err := j.call(http.MethodPost, path, map[string]any{"transition": map[string]string{"id": t.ID}}).Do(ctx, j.HTTP, nil)
			return err
		}
		names = append(names, t.Name)
	}
	var issue struct {
		Fields struct {
			Status struct {
				Name string `json:"name"`
			} `json:"status"`
		} `json:"fields"`
	}
	if _, err := j.call(http.MethodGet, "/rest/api/2/issue/"+url.PathEscape(key)+"?fields=status", nil).Do(ctx, j.HTTP, &issue); err != nil {
		return err
	}
	if strings.EqualFold(issue.Fields.Status.Name, name) {
		return nil
	}
	slices.Sort(names)
	return &patchpilot.DeliveryError{Service: "jira", Message: fmt.Sprintf("issue %s (status %q) has no transition %q; its transitions are: %s; set success_transition or failure_transition of integration %s",
		key, issue.Fields.Status.Name, name, strings.Join(names, ", "), j.name)}
}
