package integrationstest

import (
	"context"
	"sync"

	"github.com/patchpilot/patchpilot"
)

// ChangeRecords is a patchpilot.ChangeRecordStore in memory, for the tests
// of the integrations that keep which change record belongs to a rollout.
type ChangeRecords struct {
	mu   sync.Mutex
	recs map[string]patchpilot.ChangeRecord
}

// SaveChangeRecord keeps r under its integration and rollout.
func (m *ChangeRecords) SaveChangeRecord(_ context.Context, r patchpilot.ChangeRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs == nil {
		m.recs = map[string]patchpilot.ChangeRecord{}
	}
	m.recs[r.Integration+"/"+r.Rollout] = r
	return nil
}

// ChangeRecord returns the record of an integration and a rollout, or an
// ENOTFOUND error.
func (m *ChangeRecords) ChangeRecord(_ context.Context, integration, rollout string) (patchpilot.ChangeRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[integration+"/"+rollout]
	if !ok {
		return r, patchpilot.Errorf(patchpilot.ENOTFOUND, "no record")
	}
	return r, nil
}
