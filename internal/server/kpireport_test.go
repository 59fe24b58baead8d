package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations/integrationstest"
)

// The server mails the KPI report of an email integration with a
// kpi_report schedule by itself, and records it in the event log.
func TestServerMailsTheKPIReport(t *testing.T) {
	port, msgs := integrationstest.SMTPSink(t, "250 ok")
	f := newFixture(t, fixtureOptions{config: fmt.Sprintf(`integrations:
  services:
    - name: ops-mail
      type: email
      host: 127.0.0.1
      port: %d
      starttls: none
      from: patchpilot@example.com
      to: [ops@example.com]
      topics: [halted]
      kpi_report: {weekday: monday, at: "08:00"}
`, port)})
	msg := <-msgs
	if !strings.Contains(msg, "X-Patchpilot-Report: kpi") || !strings.Contains(msg, "Patching report,") {
		t.Errorf("the mail:\n%s", msg)
	}
	// The event is written after the server's answer: wait for it.
	for {
		evs, err := f.app.Store.Events(f.ctx, patchpilot.EventFilter{Kind: patchpilot.EventReportSent})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) > 0 {
			var d patchpilot.ReportSentData
			if err := json.Unmarshal(evs[0].Data, &d); err != nil || !d.Scheduled || d.Error != "" || d.Integration != "ops-mail" || d.To.Weekday() != time.Monday || d.To.Hour() != 8 {
				t.Errorf("event %+v (%v)", d, err)
			}
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
}
