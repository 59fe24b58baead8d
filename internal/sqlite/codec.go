package sqlite

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/patchpilot/patchpilot"
)

// timeLayout is how times are stored: UTC, fixed width, nanoseconds. Fixed
// width matters: with it, comparing the text compares the instants, so SQL
// can order and filter on time columns directly.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// formatTime encodes t for storage.
func formatTime(t time.Time) string {
	return t.UTC().Format(timeLayout)
}

// storable reports whether t fits the fixed-width layout, whose text order
// is time order only for years 0 to 9999.
func storable(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 0 && y <= 9999
}

// parseTime decodes a stored time; it is always UTC.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t.UTC(), nil
}

// boolInt encodes a boolean as SQLite's 0 or 1.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// encodeList encodes a list as JSON, with "[]" for an empty or nil one.
func encodeList[T any](v []T) (string, error) {
	if len(v) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// decodeList decodes a JSON list; an empty list decodes to nil, which is how
// the domain types say "none".
func decodeList[T any](s string) ([]T, error) {
	if s == "" || s == "[]" || s == "null" {
		return nil, nil
	}
	if _, names := any((*[]T)(nil)).(*[]string); names {
		if v, ok := plainStringList(s); ok {
			if len(v) == 0 {
				return nil, nil
			}
			return any(v).([]T), nil
		}
	}
	var v []T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("stored list: %w", err)
	}
	if len(v) == 0 {
		return nil, nil
	}
	return v, nil
}

// encodeMap encodes a string map as JSON, with "{}" for an empty or nil one.
func encodeMap(m map[string]string) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// decodeMap decodes a JSON string map; an empty map decodes to nil.
func decodeMap(s string) (map[string]string, error) {
	if s == "" || s == "{}" || s == "null" {
		return nil, nil
	}
	if m, ok := plainStringMap(s); ok {
		if len(m) == 0 {
			return nil, nil
		}
		return m, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("stored map: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// encodeDepth encodes a snapshot's depth as JSON, or NULL when the
// collection did not look in depth.
func encodeDepth(d *patchpilot.HostDepth) (any, error) {
	if d == nil {
		return nil, nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("depth: %w", err)
	}
	return string(b), nil
}

// decodeDepth decodes a stored depth; NULL or ” is no depth (nil).
func decodeDepth(s string) (*patchpilot.HostDepth, error) {
	if s == "" {
		return nil, nil
	}
	var d patchpilot.HostDepth
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return nil, fmt.Errorf("stored depth: %w", err)
	}
	return &d, nil
}
