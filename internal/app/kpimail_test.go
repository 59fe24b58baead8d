package app

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/textproto"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mime/quotedprintable"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
)

// mailSink is an SMTP relay on loopback that takes every message (no
// TLS, no login) and hands each one's DATA to msgs; rcptCode, when set,
// is the answer to RCPT TO.
type mailSink struct {
	ln       net.Listener
	msgs     chan string
	mu       sync.Mutex
	rcptCode string
}

func newMailSink(t *testing.T) *mailSink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &mailSink{ln: ln, msgs: make(chan string, 16)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *mailSink) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *mailSink) serve(c net.Conn) {
	defer c.Close()
	tp := textproto.NewConn(c)
	_ = tp.PrintfLine("220 sink ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, _, _ := strings.Cut(strings.ToUpper(line), " ")
		switch verb {
		case "EHLO", "HELO":
			_ = tp.PrintfLine("250 sink")
		case "RCPT":
			s.mu.Lock()
			code := s.rcptCode
			s.mu.Unlock()
			if code == "" {
				code = "250 ok"
			}
			_ = tp.PrintfLine("%s", code)
		case "DATA":
			_ = tp.PrintfLine("354 go on")
			lines, err := tp.ReadDotLines()
			if err != nil {
				return
			}
			s.msgs <- strings.Join(lines, "\r\n") + "\r\n"
			_ = tp.PrintfLine("250 queued")
		case "QUIT":
			_ = tp.PrintfLine("221 bye")
			return
		default:
			_ = tp.PrintfLine("250 ok")
		}
	}
}

func (s *mailSink) refuseRecipients(code string) {
	s.mu.Lock()
	s.rcptCode = code
	s.mu.Unlock()
}

// integrationsOf decodes an integrations: section.
func integrationsOf(t *testing.T, src string) integrations.Config {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	c, err := integrations.Decode("pp.yaml", doc.Content[0], IntegrationTypes())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// readMail parses a mailed message and decodes its quoted-printable body.
func readMail(t *testing.T, data string) (*mail.Message, string) {
	t.Helper()
	m, err := mail.ReadMessage(bufio.NewReader(strings.NewReader(data)))
	if err != nil {
		t.Fatalf("%v:\n%s", err, data)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	return m, string(body)
}

func reportEvents(t *testing.T, a *App) []patchpilot.ReportSentData {
	t.Helper()
	evs, err := a.Store.Events(context.Background(), patchpilot.EventFilter{Kind: patchpilot.EventReportSent})
	if err != nil {
		t.Fatal(err)
	}
	var out []patchpilot.ReportSentData
	for _, e := range evs {
		var d patchpilot.ReportSentData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// TestKPIReportByMail: the report is mailed on demand and on the
// kpi_report schedule; the last scheduled send is read from the event
// log, so a new dispatcher (a restarted server) does not send it again
// before its time; a failed send is tried again an hour later.
func TestKPIReportByMail(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sink := newMailSink(t)
	now := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	o := Options{DBPath: filepath.Join(dir, "pp.db"), Env: []string{"HOME=" + dir, "SLACK_URL=https://hooks.slack.com/services/T0/B0/x"}, Now: clock,
		Integrations: integrationsOf(t, fmt.Sprintf(`
services:
  - name: ops-mail
    type: email
    host: 127.0.0.1
    port: %d
    starttls: none
    from: patchpilot@example.com
    to: [ops@example.com]
    kpi_report: {every: 168h, to: [boss@example.com]}
  - name: chat
    type: slack
    webhook_url: {env: SLACK_URL}
`, sink.port()))}
	a, err := New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	// On demand.
	from := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	sent, err := a.SendKPIReport(ctx, "ops-mail", from, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if sent.Integration != "ops-mail" || !sent.From.Equal(from) || !strings.Contains(sent.Subject, "Patching report 2026-02-01 to 2026-03-01") {
		t.Errorf("sent %+v", sent)
	}
	m, body := readMail(t, <-sink.msgs)
	if to := m.Header.Get("To"); to != "<boss@example.com>" {
		t.Errorf("To %q, want the kpi_report's recipients", to)
	}
	if m.Header.Get("X-Patchpilot-Report") != "kpi" || m.Header.Get("Message-Id") != "<patchpilot.kpi.ops-mail.20260201T0000.20260301T0000@example.com>" {
		t.Errorf("headers %v", m.Header)
	}
	for _, w := range []string{"Patching report, 2026-02-01 00:00 to 2026-03-01 00:00 (UTC)\r\n", "Hosts within their SLA now:", "Change failure rate:",
		"Time from availability to installation\r\n", "Hosts out of their SLA\r\n  none: every collected host is within its SLA\r\n", "Hosts patched per week\r\n"} {
		if !strings.Contains(body, w) {
			t.Errorf("the report lacks %q:\n%s", w, body)
		}
	}
	if evs := reportEvents(t, a); len(evs) != 1 || evs[0].Scheduled || evs[0].Error != "" || evs[0].Integration != "ops-mail" {
		t.Errorf("events %+v", evs)
	}
	if _, err := a.SendKPIReport(ctx, "chat", time.Time{}, time.Time{}); err == nil || !strings.Contains(err.Error(), "type slack sends no reports") {
		t.Errorf("a report by slack: %v", err)
	}
	if _, err := a.SendKPIReport(ctx, "nope", time.Time{}, time.Time{}); patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND {
		t.Errorf("an unknown integration: %v", err)
	}

	// On schedule: never sent on schedule, so due at once (the report on
	// demand does not count); the week up to now.
	newDispatcher := func() *Dispatcher {
		d, err := a.NewDispatcher(DispatcherOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := newDispatcher()
	d.SendDueReports(ctx)
	m, _ = readMail(t, <-sink.msgs)
	if !strings.Contains(m.Header.Get("Subject"), "Patching report 2026-02-23 to 2026-03-02") {
		t.Errorf("scheduled subject %q", m.Header.Get("Subject"))
	}
	evs := reportEvents(t, a)
	if len(evs) != 2 || !evs[1].Scheduled || !evs[1].To.Equal(now) || !evs[1].From.Equal(now.Add(-168*time.Hour)) {
		t.Errorf("events %+v", evs)
	}

	// A restart a day later: the log says it was sent; nothing is due.
	advance(24 * time.Hour)
	d = newDispatcher()
	d.SendDueReports(ctx)
	// A week after the send it is due; the relay defers it.
	advance(6 * 24 * time.Hour)
	sink.refuseRecipients("451 4.3.0 try later")
	d.SendDueReports(ctx)
	evs = reportEvents(t, a)
	if len(evs) != 3 || !evs[2].Scheduled || !strings.Contains(evs[2].Error, "451 4.3.0 try later") {
		t.Fatalf("events %+v", evs)
	}
	// Not again within the hour, even after a restart; then it goes.
	sink.refuseRecipients("")
	advance(30 * time.Minute)
	d = newDispatcher()
	d.SendDueReports(ctx)
	if n := len(reportEvents(t, a)); n != 3 {
		t.Errorf("%d report events half an hour after a failure, want 3", n)
	}
	advance(30 * time.Minute)
	d.SendDueReports(ctx)
	evs = reportEvents(t, a)
	if len(evs) != 4 || evs[3].Error != "" {
		t.Errorf("events %+v", evs)
	}
	m, _ = readMail(t, <-sink.msgs)
	if !strings.Contains(m.Header.Get("Subject"), "Patching report 2026-03-02 to 2026-03-09") {
		t.Errorf("subject %q", m.Header.Get("Subject"))
	}
	select {
	case extra := <-sink.msgs:
		t.Errorf("a mail too many:\n%s", extra)
	default:
	}
}

func TestKPIReportRefusedIsADeliveryError(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sink := newMailSink(t)
	sink.refuseRecipients("550 5.1.1 no such user")
	o := Options{DBPath: filepath.Join(dir, "pp.db"), Env: []string{"HOME=" + dir},
		Integrations: integrationsOf(t, fmt.Sprintf(`
services:
  - name: ops-mail
    type: email
    host: localhost
    port: %d
    starttls: none
    from: patchpilot@example.com
    to: [ops@example.com]
`, sink.port()))}
	a, err := New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	_, err = a.SendKPIReport(ctx, "ops-mail", time.Time{}, time.Time{})
	var de *patchpilot.DeliveryError
	if !errors.As(err, &de) || de.Retryable || !strings.Contains(err.Error(), "550 5.1.1 no such user") {
		t.Fatalf("error %v", err)
	}
	if evs := reportEvents(t, a); len(evs) != 1 || !strings.Contains(evs[0].Error, "550") {
		t.Errorf("events %+v", evs)
	}
	// No kpi_report: the dispatcher schedules nothing for it.
	d, err := a.NewDispatcher(DispatcherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.reports) != 0 {
		t.Errorf("scheduled reports %+v", d.reports)
	}
}

func TestKPIReportMailContent(t *testing.T) {
	gen := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	rep := KPIReport{From: gen.Add(-7 * 24 * time.Hour), To: gen, GeneratedAt: gen,
		TimeToPatch: []TimeToPatch{{Severity: "critical", Count: 3, MeanSeconds: 26 * 3600, P90Seconds: 2*86400 + 3600}, {Severity: "low"}, {Severity: "all", Count: 3, MeanSeconds: 26 * 3600, P90Seconds: 2*86400 + 3600}},
		Patches:     PatchCounts{Total: 4, Succeeded: 3, RolledBack: 1}, ChangeFailureRate: 0.25, Rollbacks: 1, RolledBackRollouts: 1,
		Weekly: []WeekCount{{Week: time.Date(2026, 2, 23, 0, 0, 0, 0, time.UTC), Hosts: 3, Patches: 3}}}
	var hosts []HostCompliance
	for i := range maxMailedOverdue + 2 {
		hosts = append(hosts, HostCompliance{Host: fmt.Sprintf("web-%03d", i), Group: "<script>x</script>", State: SLAOut,
			Overdue: []SLAUpdate{{Package: "openssl", Version: "3.0.2-1\r\nBcc: x", Severity: "critical", Deadline: gen.Add(-48 * time.Hour), OverdueSeconds: 48 * 3600}}})
	}
	comp := ComplianceReport{Hosts: hosts, Totals: ComplianceTotals{Hosts: 210, Compliant: 8, OutOfSLA: 202, OverdueUpdates: 202}}
	m := kpiReportMail(rep, comp, true)
	if m.Subject != "[patchpilot] Patching report 2026-02-23 to 2026-03-02: 3.8% of hosts within their SLA, 202 out" {
		t.Errorf("subject %q", m.Subject)
	}
	for _, w := range []string{
		"Change failure rate:            25.0%\n",
		"Rollbacks:                      1 host patches in 1 rollouts\n",
		"  critical  3        1d 2h  2d 1h\n",
		"  all       3        1d 2h  2d 1h\n",
		"  web-000  <script>x</script>  openssl  3.0.2-1  Bcc: x  critical  2026-02-28 09:30  2d\n",
		"  ... and 2 more updates past their deadline",
		"  2026-02-23  3              3\n",
	} {
		if !strings.Contains(m.Text, w) {
			t.Errorf("text lacks %q:\n%s", w, m.Text)
		}
	}
	if strings.Contains(m.Text, "  low ") || strings.Contains(m.Text, "web-201") {
		t.Errorf("text has an empty severity or more than %d overdue updates", maxMailedOverdue)
	}
	for _, w := range []string{"<th>SEVERITY</th>", "<td>web-000</td>", "&lt;script&gt;x&lt;/script&gt;", "... and 2 more updates", "<th align=\"left\">Change failure rate</th><td>25.0%</td>"} {
		if !strings.Contains(m.HTML, w) {
			t.Errorf("html lacks %q:\n%s", w, m.HTML)
		}
	}
	if strings.Contains(m.HTML, "<script>") {
		t.Error("html not escaped")
	}
}

func TestEmailDefaultTopicsAreShown(t *testing.T) {
	c := integrationsOf(t, `
services:
  - {name: m, type: email, host: smtp.example.com, from: pp@example.com, to: [ops@example.com]}
  - {name: n, type: email, host: smtp.example.com, from: pp@example.com, to: [ops@example.com], topics: [halted]}
  - {name: h, type: webhook, url: "https://example.com/x", secret: {env: X}}
`)
	if got := IntegrationTopics(c.Items[0]); len(got) != 7 || got[0] != patchpilot.TopicRolloutFinished || got[6] != patchpilot.TopicScheduleRun {
		t.Errorf("email default topics %v", got)
	}
	if got := IntegrationTopics(c.Items[1]); len(got) != 1 || got[0] != patchpilot.TopicHalted {
		t.Errorf("email topics %v", got)
	}
	if got := IntegrationTopics(c.Items[2]); got != nil {
		t.Errorf("webhook topics %v, want every topic", got)
	}
}
