package email

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
)

var testNow = time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)

func spec(t *testing.T, src string) integrations.Spec {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	c, err := integrations.Decode("pp.yaml", doc.Content[0], []string{Type})
	if err != nil {
		t.Fatal(err)
	}
	return c.Items[0]
}

func getenv(k string) string {
	if k == "SMTP_PASSWORD" {
		return "s3cret-pw"
	}
	return ""
}

// notifier configures an integration for srv (host mail.example.com,
// trusted through ca_file) with extra settings appended.
func notifier(t *testing.T, srv *smtpServer, caFile, extra string) *Notifier {
	t.Helper()
	src := fmt.Sprintf(`
services:
  - name: ops-mail
    type: email
    host: mail.example.com
    port: %d
    ca_file: %s
    username: pp
    password: {env: SMTP_PASSWORD}
    from: "Patch Pilot <patchpilot@example.com>"
    to: [ops@example.com, "Sec Team <sec@example.org>"]
%s`, srv.port(), caFile, extra)
	c, err := Check(spec(t, src), getenv)
	if err != nil {
		t.Fatal(err)
	}
	return New(c, func() time.Time { return testNow }, srv.dial())
}

func finished() patchpilot.Notification {
	r := &patchpilot.Rollout{
		ID: "r-20261206-ab12", Plan: patchpilot.Plan{Name: "openssl\r\nBcc: evil@attacker.example"}, State: patchpilot.RolloutSucceeded,
		Stages: []patchpilot.StageRun{
			{Name: "canary", State: patchpilot.StageSucceeded, Hosts: []string{"web-1", "web-2"}},
			{Name: "rest", State: patchpilot.StageSucceeded, Hosts: []string{"web-3", "web-4"}},
		},
	}
	return patchpilot.Notification{
		Event:   patchpilot.Event{ID: 42, Time: testNow, Actor: "controller", Kind: patchpilot.EventRolloutState, Rollout: r.ID},
		Topic:   patchpilot.TopicRolloutFinished,
		Level:   patchpilot.LevelInfo,
		Summary: "rollout r-20261206-ab12 finished\r\nBcc: evil@attacker.example: succeeded, ünïcode",
		Rollout: r,
		URL:     "https://pp.example.com/ui/rollouts/r-20261206-ab12",
		Hosts: []patchpilot.HostRun{
			{Stage: "canary", Host: "web-1", State: patchpilot.HostSucceeded},
			{Stage: "canary", Host: "web-2", State: patchpilot.HostRolledBack, Reason: "nginx failed its health check"},
			{Stage: "rest", Host: "web-3", State: patchpilot.HostSucceeded},
			{Stage: "rest", Host: "web-4", State: patchpilot.HostFailed, Reason: "apt: held broken packages"},
		},
		Incidents: []patchpilot.Incident{{ID: 7, Rollout: r.ID, Time: testNow.Add(-time.Hour), Stage: "canary",
			Reason: "p99 latency +80%", Hosts: []string{"web-2"}}},
	}
}

func deliveryError(t *testing.T, err error) *patchpilot.DeliveryError {
	t.Helper()
	var de *patchpilot.DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T), want a *patchpilot.DeliveryError", err, err)
	}
	if de.Service != Type {
		t.Errorf("service %q", de.Service)
	}
	return de
}

func TestNotifyMailsTheSummaryOverSTARTTLS(t *testing.T) {
	caFile, tlsConf := testCA(t)
	srv := newSMTPServer(t, tlsConf)
	n := notifier(t, srv, caFile, "")
	if err := n.Notify(context.Background(), finished()); err != nil {
		t.Fatal(err)
	}
	ses := <-srv.sessions
	want := []string{"EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"}
	if !slices.Equal(ses.Commands, want) {
		t.Errorf("commands %v, want %v", ses.Commands, want)
	}
	if !ses.TLS || !ses.AuthTLS || ses.AuthMech != "PLAIN" || ses.AuthUser != "pp" || ses.AuthPass != "s3cret-pw" {
		t.Errorf("session tls=%v auth after tls=%v mech=%q user=%q pass ok=%v", ses.TLS, ses.AuthTLS, ses.AuthMech, ses.AuthUser, ses.AuthPass == "s3cret-pw")
	}
	if !strings.HasPrefix(ses.MailFrom, "<patchpilot@example.com>") {
		t.Errorf("MAIL FROM %q", ses.MailFrom)
	}
	if !slices.Equal(ses.Rcpts, []string{"<ops@example.com>", "<sec@example.org>"}) {
		t.Errorf("RCPT TO %v", ses.Rcpts)
	}

	msg, err := mail.ReadMessage(strings.NewReader(ses.Data + "\r\n"))
	if err != nil {
		t.Fatalf("the message does not parse: %v\n%s", err, ses.Data)
	}
	h := msg.Header
	for k, v := range map[string]string{
		"From":                      `"Patch Pilot" <patchpilot@example.com>`,
		"Date":                      "Sun, 06 Dec 2026 20:00:00 +0000",
		"Message-Id":                "<patchpilot.e42.ops-mail@example.com>",
		"References":                "<patchpilot.rollout.r-20261206-ab12@example.com>",
		"Mime-Version":              "1.0",
		"Content-Type":              "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "quoted-printable",
		"Auto-Submitted":            "auto-generated",
		"X-Patchpilot-Rollout":      "r-20261206-ab12",
		"X-Patchpilot-Topic":        "rollout_finished",
	} {
		if got := h.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Address != "ops@example.com" || to[1].Address != "sec@example.org" || to[1].Name != "Sec Team" {
		t.Errorf("To %v (%v)", to, err)
	}
	// Data cannot add a header: the CR LF in the summary and the plan's
	// name stay inside the subject, which is encoded for its non-ASCII.
	if _, ok := h["Bcc"]; ok {
		t.Errorf("a Bcc header came from the event's data: %v", h)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil || subject != "[patchpilot] rollout r-20261206-ab12 finished  Bcc: evil@attacker.example: succeeded, ünïcode" {
		t.Errorf("subject %q (%v)", subject, err)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	text := string(body)
	for _, w := range []string{
		"Rollout r-20261206-ab12 finished: succeeded (plan openssl  Bcc: evil@attacker.example)",
		"Hosts:      2 of 4 succeeded, 1 failed, 1 rolled back\r\n",
		"  1. canary  succeeded  2 hosts\r\n",
		"  2. rest    succeeded  2 hosts\r\n",
		"Hosts that did not succeed\r\n",
		"  web-2  canary  rolled_back  nginx failed its health check\r\n",
		"  web-4  rest    failed       apt: held broken packages\r\n",
		"Incidents:  1\r\n",
		"  #7 2026-12-06 19:00 UTC, stage canary: p99 latency +80% (hosts web-2)\r\n",
		"Open the rollout on the dashboard:\r\nhttps://pp.example.com/ui/rollouts/r-20261206-ab12\r\n",
		"patchpilot, rollout_finished, event 42 at 2026-12-06 20:00:00 UTC",
	} {
		if !strings.Contains(text, w) {
			t.Errorf("the body lacks %q:\n%s", w, text)
		}
	}
}

func TestHTMLAlternative(t *testing.T) {
	caFile, tlsConf := testCA(t)
	srv := newSMTPServer(t, tlsConf)
	n := notifier(t, srv, caFile, "    html: true\n")
	no := finished()
	no.Rollout.Stages[0].Name = "<script>alert(1)</script>"
	if err := n.Notify(context.Background(), no); err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(strings.NewReader((<-srv.sessions).Data + "\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q (%v)", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types []string
	var html string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, p.Header.Get("Content-Type"))
		b, _ := io.ReadAll(p) // multipart decodes quoted-printable
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
			html = string(b)
		}
	}
	if !slices.Equal(types, []string{"text/plain; charset=utf-8", "text/html; charset=utf-8"}) {
		t.Errorf("parts %v", types)
	}
	if strings.Contains(html, "<script>") || !strings.Contains(html, "&lt;script&gt;") || !strings.Contains(html, `<a href="https://pp.example.com/ui/rollouts/r-20261206-ab12">`) {
		t.Errorf("html part:\n%s", html)
	}
}

func TestTopicsNotHandledSendNothing(t *testing.T) {
	caFile, tlsConf := testCA(t)
	srv := newSMTPServer(t, tlsConf)
	n := notifier(t, srv, caFile, "")
	no := finished()
	no.Topic = patchpilot.TopicStageDone
	if err := n.Notify(context.Background(), no); err != nil {
		t.Fatal(err)
	}
	no.Topic = patchpilot.TopicIncident
	if err := n.Notify(context.Background(), no); err != nil {
		t.Fatal(err)
	}
	if ses := <-srv.sessions; !slices.Contains(ses.Commands, "DATA") {
		t.Errorf("the incident was not sent: %v", ses.Commands)
	}
	select {
	case ses := <-srv.sessions:
		t.Errorf("a second session (the stage_done notification): %v", ses.Commands)
	default:
	}
}

func TestServerAnswers(t *testing.T) {
	caFile, tlsConf := testCA(t)
	for _, tc := range []struct {
		name      string
		setup     func(s *smtpServer)
		retryable bool
		message   []string
		commands  []string // the session's commands, when checked
	}{
		{name: "greeting 421", setup: func(s *smtpServer) { s.greeting = "421 4.3.2 try again later" }, retryable: true,
			message: []string{"421 4.3.2 try again later", "later may succeed"}},
		{name: "RCPT 450", setup: func(s *smtpServer) { s.reply["RCPT"] = "450 4.2.1 mailbox busy" }, retryable: true,
			message: []string{"RCPT TO <ops@example.com>", "450 4.2.1 mailbox busy"}},
		{name: "MAIL 550", setup: func(s *smtpServer) { s.reply["MAIL"] = "550 5.7.1 sender not allowed" },
			message: []string{"refused MAIL FROM <patchpilot@example.com>", "550 5.7.1 sender not allowed"}},
		{name: "data refused", setup: func(s *smtpServer) { s.reply["DATA-END"] = "554 5.6.0 message rejected" },
			message: []string{"554 5.6.0 message rejected"}},
		{name: "data deferred", setup: func(s *smtpServer) { s.reply["DATA-END"] = "451 4.3.0 queue full" }, retryable: true,
			message: []string{"451 4.3.0 queue full"}},
		{name: "bad credentials", setup: func(s *smtpServer) { s.pass = "another" },
			message:  []string{"refused the credentials", "535 5.7.8", `username "pp"`, "$SMTP_PASSWORD"},
			commands: []string{"EHLO", "STARTTLS", "EHLO", "AUTH"}},
		{name: "no STARTTLS offered", setup: func(s *smtpServer) { s.tlsConf = nil },
			message:  []string{"does not offer STARTTLS", "starttls is required"},
			commands: []string{"EHLO"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newSMTPServer(t, tlsConf, tc.setup)
			n := notifier(t, srv, caFile, "")
			err := n.Notify(context.Background(), finished())
			de := deliveryError(t, err)
			if de.Retryable != tc.retryable {
				t.Errorf("retryable %v, want %v: %v", de.Retryable, tc.retryable, err)
			}
			for _, w := range tc.message {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret-pw") {
				t.Errorf("the error shows the password: %v", err)
			}
			ses := <-srv.sessions
			if tc.commands != nil && !slices.Equal(ses.Commands[:min(len(ses.Commands), len(tc.commands))], tc.commands) {
				t.Errorf("commands %v, want them to start with %v", ses.Commands, tc.commands)
			}
			if tc.name == "no STARTTLS offered" && (ses.AuthUser != "" || slices.Contains(ses.Commands, "AUTH") || slices.Contains(ses.Commands, "MAIL")) {
				t.Errorf("credentials or mail sent without TLS: %+v", ses)
			}
		})
	}
}

func TestUntrustedCertificateIsNotRetried(t *testing.T) {
	_, tlsConf := testCA(t)
	otherCA, _ := testCA(t) // another CA: the server's certificate is not signed by it
	srv := newSMTPServer(t, tlsConf)
	n := notifier(t, srv, otherCA, "")
	err := n.Notify(context.Background(), finished())
	de := deliveryError(t, err)
	if de.Retryable || !strings.Contains(err.Error(), "not trusted") || !strings.Contains(err.Error(), "ca_file") {
		t.Errorf("retryable %v: %v", de.Retryable, err)
	}
	if ses := <-srv.sessions; ses.AuthUser != "" || slices.Contains(ses.Commands, "AUTH") {
		t.Errorf("credentials sent to an untrusted server: %+v", ses)
	}
}

func TestOpportunisticWithoutTLSSendsNoPasswordToAnotherMachine(t *testing.T) {
	srv := newSMTPServer(t, nil)
	c, err := Check(spec(t, fmt.Sprintf(`
services:
  - name: relay
    type: email
    host: mail.example.com
    port: %d
    starttls: opportunistic
    username: pp
    password: {env: SMTP_PASSWORD}
    from: patchpilot@example.com
    to: [ops@example.com]
`, srv.port())), getenv)
	if err != nil {
		t.Fatal(err)
	}
	err = New(c, nil, srv.dial()).Notify(context.Background(), finished())
	de := deliveryError(t, err)
	if de.Retryable || !strings.Contains(err.Error(), "refusing to send the password") {
		t.Errorf("retryable %v: %v", de.Retryable, err)
	}
	if ses := <-srv.sessions; slices.Contains(ses.Commands, "AUTH") {
		t.Errorf("AUTH sent without TLS: %v", ses.Commands)
	}
}

func TestLoopbackRelayWithoutTLS(t *testing.T) {
	srv := newSMTPServer(t, nil, func(s *smtpServer) { s.user = "" }) // a relay that needs no login
	c, err := Check(spec(t, fmt.Sprintf(`
services:
  - name: relay
    type: email
    host: 127.0.0.1
    port: %d
    starttls: none
    from: patchpilot@example.com
    to: [ops@example.com]
`, srv.port())), getenv)
	if err != nil {
		t.Fatal(err)
	}
	n := New(c, nil, nil) // the real dialer, to the real port
	m := Mail{Subject: "KPI report", Text: "line one\nline two with a long tail " + strings.Repeat("x", 100) + "\n.\nend"}
	if err := n.Send(context.Background(), m, nil); err != nil {
		t.Fatal(err)
	}
	ses := <-srv.sessions
	if ses.TLS || !slices.Equal(ses.Commands, []string{"EHLO", "MAIL", "RCPT", "DATA", "QUIT"}) {
		t.Errorf("tls %v commands %v", ses.TLS, ses.Commands)
	}
	msg, err := mail.ReadMessage(strings.NewReader(ses.Data + "\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if want := "line one\r\nline two with a long tail " + strings.Repeat("x", 100) + "\r\n.\r\nend\r\n"; string(body) != want {
		t.Errorf("body %q, want %q", body, want)
	}
	if id := msg.Header.Get("Message-Id"); !strings.HasPrefix(id, "<patchpilot.") || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID %q", id)
	}
}

func TestCheck(t *testing.T) {
	base := map[string]string{
		"host": "smtp.example.com", "username": "pp", "password": "{env: SMTP_PASSWORD}",
		"from": "patchpilot@example.com", "to": "[ops@example.com]",
	}
	order := []string{"host", "port", "starttls", "ca_file", "username", "password", "from", "to", "kpi_report"}
	build := func(over map[string]string) integrations.Spec {
		var b strings.Builder
		b.WriteString("services:\n  - name: m\n    type: email\n")
		for _, k := range order {
			v, ok := over[k]
			if !ok {
				v, ok = base[k]
			}
			if ok && v != "-" {
				fmt.Fprintf(&b, "    %s: %s\n", k, v)
			}
		}
		return spec(t, b.String())
	}
	c, err := Check(build(nil), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 587 || c.StartTLS != StartTLSRequired || c.Password != "s3cret-pw" || !slices.Equal(c.Topics, DefaultTopics()) || c.KPI != nil {
		t.Errorf("defaults: port %d starttls %q topics %v kpi %v", c.Port, c.StartTLS, c.Topics, c.KPI)
	}
	c, err = Check(build(map[string]string{"kpi_report": "{every: 168h, to: [boss@example.com]}"}), getenv)
	if err != nil || c.KPI == nil || c.KPI.Every != 168*time.Hour || c.KPI.Period != 168*time.Hour || len(c.KPI.To) != 1 || c.KPI.To[0].Address != "boss@example.com" {
		t.Errorf("kpi_report every: %+v %v", c.KPI, err)
	}
	c, err = Check(build(map[string]string{"kpi_report": `{weekday: Monday, at: "07:30", period: 30d}`}), getenv)
	if err != nil || c.KPI == nil || !c.KPI.Weekly || c.KPI.Weekday != time.Monday || c.KPI.At != 7*time.Hour+30*time.Minute || c.KPI.Period != 30*24*time.Hour || c.KPI.To[0].Address != "ops@example.com" {
		t.Errorf("kpi_report weekday: %+v %v", c.KPI, err)
	}

	for _, tc := range []struct {
		over map[string]string
		want string
	}{
		{map[string]string{"host": "-"}, "pp.yaml:2: integrations: m: host: expected the mail server's host name"},
		{map[string]string{"port": "70000"}, "pp.yaml:5: integrations: m: port: expected a port number"},
		{map[string]string{"starttls": "always"}, `pp.yaml:5: integrations: m: starttls: expected required, opportunistic or none, got "always"`},
		{map[string]string{"starttls": "none"}, "starttls: none would send the password in clear to smtp.example.com"},
		{map[string]string{"ca_file": "/nonexistent/ca.pem"}, "pp.yaml:5: integrations: m: ca_file: open /nonexistent/ca.pem"},
		{map[string]string{"password": "-"}, "pp.yaml:2: integrations: m: password: missing"},
		{map[string]string{"password": "hunter2"}, "password"},
		{map[string]string{"password": "{env: UNSET_VARIABLE}"}, "UNSET_VARIABLE"},
		{map[string]string{"from": `"x@example.com\r\nBcc: evil@example.com"`}, "pp.yaml:7: integrations: m: from: expected one address on one line"},
		{map[string]string{"from": "not an address"}, `pp.yaml:7: integrations: m: from: expected an address such as ops@example.com, got "not an address"`},
		{map[string]string{"to": "-"}, "pp.yaml:2: integrations: m: to: missing"},
		{map[string]string{"to": "[ops@example.com, OPS@example.com]"}, "pp.yaml:8: integrations: m: to: OPS@example.com is listed twice"},
		{map[string]string{"to": `["ops@example.com, evil@example.com"]`}, "to: expected an address such as ops@example.com"},
		{map[string]string{"to": "[ops@bad-.example.com]"}, "to: expected an address with a domain"},
		{map[string]string{"kpi_report": "{every: 10m}"}, "pp.yaml:9: integrations: m: kpi_report: every: expected a duration of an hour or more"},
		{map[string]string{"kpi_report": "{weekday: someday}"}, `kpi_report: weekday: expected a day such as monday, got "someday"`},
		{map[string]string{"kpi_report": "{}"}, "kpi_report: every: missing"},
		{map[string]string{"kpi_report": "{every: 24h, monthly: true}"}, "monthly"},
	} {
		_, err := Check(build(tc.over), getenv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.over, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "s3cret-pw") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%v: the error shows a secret: %v", tc.over, err)
		}
		if patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			t.Errorf("%v: code %s", tc.over, patchpilot.ErrorCode(err))
		}
	}
}

func TestKPIScheduleDue(t *testing.T) {
	every := KPISchedule{Every: 168 * time.Hour, Period: 168 * time.Hour}
	last := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	if !every.Due(testNow, time.Time{}, false) {
		t.Error("never sent: not due")
	}
	if every.Due(last.Add(167*time.Hour), last, false) || !every.Due(last.Add(168*time.Hour), last, false) {
		t.Error("every 168h: wrong due time")
	}
	if every.Due(last.Add(59*time.Minute), last, true) || !every.Due(last.Add(time.Hour), last, true) {
		t.Error("a failed report is not tried again an hour later")
	}
	// Mondays at 08:00 UTC: 2026-12-07 is a Monday.
	weekly := KPISchedule{Weekly: true, Weekday: time.Monday, At: 8 * time.Hour, Period: 7 * 24 * time.Hour}
	sentMon := time.Date(2026, 11, 30, 8, 0, 5, 0, time.UTC)
	for _, c := range []struct {
		now  time.Time
		want bool
	}{
		{time.Date(2026, 12, 7, 7, 59, 0, 0, time.UTC), false},
		{time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC), true},
		{time.Date(2026, 12, 9, 12, 0, 0, 0, time.UTC), true}, // the server was down on Monday
		{time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), false},
	} {
		if got := weekly.Due(c.now, sentMon, false); got != c.want {
			t.Errorf("weekly at %s after a send at %s: due %v, want %v", c.now, sentMon, got, c.want)
		}
	}
}
