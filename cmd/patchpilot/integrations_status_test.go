package main

import (
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// TestIntegrationStatusShowsRetry: the status tells a delivery waiting
// for its next try apart from one that is stuck.
func TestIntegrationStatusShowsRetry(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var b strings.Builder
	writeIntegrationStatus(&b, []app.IntegrationStatus{{Name: "hook", Type: "webhook", Notified: true,
		Cursor: &patchpilot.DeliveryCursor{Integration: "hook", EventID: 811, Behind: 3,
			Retrying: &patchpilot.DeliveryRetry{EventID: 812, Attempts: 4, Error: "webhook answered 503: unavailable", NextTry: at}}}})
	want := "  retrying:\tevent 812, 4 attempts failed, next try at 2026-03-01T12:00:00Z: webhook answered 503: unavailable\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("status =\n%s\nwant a line %q", b.String(), want)
	}
}
