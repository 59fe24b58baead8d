package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/patchpilot/patchpilot"
)

// formatTimePtr encodes an optional time; nil is stored as NULL.
func formatTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return formatTime(*t)
}

// parseTimePtr decodes an optional time stored as NULL or text.
func parseTimePtr(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// storablePtr is storable for an optional time; nil is always storable.
func storablePtr(t *time.Time) bool { return t == nil || storable(*t) }

// encodeGates encodes gate results with their times in UTC, so that they
// read back in UTC like every other time in the store, whatever zone the
// gate's clock used.
func encodeGates(gates []patchpilot.GateResult) (string, error) {
	if len(gates) == 0 {
		return "[]", nil
	}
	utc := make([]patchpilot.GateResult, len(gates))
	for i, g := range gates {
		if !storable(g.Time) {
			return "", fmt.Errorf("gate %d (%s): time %s is out of range", i, g.Gate, g.Time)
		}
		if len(g.Evidence) > 0 && !json.Valid(g.Evidence) {
			return "", fmt.Errorf("gate %d (%s): evidence is not valid JSON", i, g.Gate)
		}
		g.Time = g.Time.UTC()
		utc[i] = g
	}
	return encodeList(utc)
}

// encodeBaseline encodes a health baseline, with "{}" for an empty one.
func encodeBaseline(b patchpilot.HealthBaseline) (string, error) {
	if len(b) == 0 {
		return "{}", nil
	}
	for gate, v := range b {
		if !json.Valid(v) {
			return "", fmt.Errorf("baseline of gate %q is not valid JSON", gate)
		}
	}
	out, err := json.Marshal(b)
	return string(out), err
}

// decodeBaseline decodes a stored baseline; an empty one decodes to nil.
func decodeBaseline(s string) (patchpilot.HealthBaseline, error) {
	if s == "" || s == "{}" || s == "null" {
		return nil, nil
	}
	var b patchpilot.HealthBaseline
	if err := json.Unmarshal([]byte(s), &b); err != nil {
		return nil, fmt.Errorf("stored baseline: %w", err)
	}
	if len(b) == 0 {
		return nil, nil
	}
	return b, nil
}

// encodeJSON stores an optional JSON document: NULL when empty.
func encodeJSON(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return string(raw)
}

// decodeJSON reads an optional JSON document stored as NULL or text.
func decodeJSON(s sql.NullString) json.RawMessage {
	if !s.Valid {
		return nil
	}
	return json.RawMessage(s.String)
}

// rolloutNotFound reports a rollout that the store does not know.
func rolloutNotFound(id string) error {
	return patchpilot.Errorf(patchpilot.ENOTFOUND, "rollout %q not found", id).
		WithHint("check the rollout id against the list of rollouts")
}
