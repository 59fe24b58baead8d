package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/suggest"
)

// SLA is a patch deadline per normalised severity: how long a pending
// security update of that severity may stay pending on a host after it
// became available. A zero field is not set: it falls back to the policy's
// top-level SLA, then to DefaultSLA. Unrated covers security updates
// whose advisories carry no severity; unset there, they have no deadline.
type SLA struct {
	Critical time.Duration `json:"critical,omitempty"`
	High     time.Duration `json:"high,omitempty"`
	Medium   time.Duration `json:"medium,omitempty"`
	Low      time.Duration `json:"low,omitempty"`
	Unrated  time.Duration `json:"none,omitempty"`
}

// DefaultSLA is the SLA when no policy sets one: critical 7 days, high 30,
// medium 90, low 180, unrated none.
func DefaultSLA() SLA {
	const day = 24 * time.Hour
	return SLA{Critical: 7 * day, High: 30 * day, Medium: 90 * day, Low: 180 * day}
}

// Over returns s with the fields over sets replacing its own.
func (s SLA) Over(over SLA) SLA {
	for _, f := range []struct{ dst, src *time.Duration }{
		{&s.Critical, &over.Critical}, {&s.High, &over.High}, {&s.Medium, &over.Medium},
		{&s.Low, &over.Low}, {&s.Unrated, &over.Unrated},
	} {
		if *f.src > 0 {
			*f.dst = *f.src
		}
	}
	return s
}

// Deadline is the time allowed for an update of the severity (a
// normalised word, or "" for unrated), and whether it has one.
func (s SLA) Deadline(sev patchpilot.Severity) (time.Duration, bool) {
	var d time.Duration
	switch patchpilot.SeverityOfRank(sev.Rank()) {
	case patchpilot.SeverityCritical:
		d = s.Critical
	case patchpilot.SeverityHigh:
		d = s.High
	case patchpilot.SeverityMedium:
		d = s.Medium
	case patchpilot.SeverityLow:
		d = s.Low
	default:
		d = s.Unrated
	}
	return d, d > 0
}

// SLAOf is the SLA that applies to a group's hosts: DefaultSLA, under the
// policy's top-level sla, under the group's own.
func (p Policy) SLAOf(g Group) SLA {
	return DefaultSLA().Over(p.SLA).Over(g.SLA)
}

// MarshalJSON writes the deadlines as policies write them ("7d"),
// omitting those not set.
func (s SLA) MarshalJSON() ([]byte, error) {
	m := map[string]string{}
	for _, f := range []struct {
		key string
		d   time.Duration
	}{{"critical", s.Critical}, {"high", s.High}, {"medium", s.Medium}, {"low", s.Low}, {"none", s.Unrated}} {
		if f.d > 0 {
			m[f.key] = FormatDuration(f.d)
		}
	}
	return json.Marshal(m)
}

func (s SLA) validate(what string) error {
	for _, f := range []struct {
		key string
		d   time.Duration
	}{{"critical", s.Critical}, {"high", s.High}, {"medium", s.Medium}, {"low", s.Low}, {"none", s.Unrated}} {
		if f.d < 0 {
			return patchpilot.Errorf(patchpilot.EINVALID, "%s: sla: %s must not be negative", what, f.key)
		}
	}
	return nil
}

var slaKeys = []string{"critical", "high", "medium", "low", "none"}

func slaField(s *SLA, key string) *time.Duration {
	switch key {
	case "critical":
		return &s.Critical
	case "high":
		return &s.High
	case "medium":
		return &s.Medium
	case "low":
		return &s.Low
	}
	return &s.Unrated
}

func (d decoder) sla(n *yamlNode, what string) (SLA, error) {
	var s SLA
	f, err := d.mapping(n, what, slaKeys)
	if err != nil {
		return s, err
	}
	for _, k := range slaKeys {
		v, ok := f[k]
		if !ok {
			continue
		}
		str, err := d.scalar(v, what+": "+k)
		if err != nil {
			return s, err
		}
		dur, err := ParseDuration(str)
		if err != nil || dur <= 0 {
			return s, d.errorf(v, what+": "+k, "%q: expected a deadline longer than 0, such as 7d or 36h", v.Value)
		}
		*slaField(&s, k) = dur
	}
	return s, nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *SLA) UnmarshalJSON(data []byte) error {
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	*s = SLA{}
	for k, v := range m {
		if !slices.Contains(slaKeys, k) {
			return fmt.Errorf("sla: unknown key %q%s; known keys: %s", k, suggest.DidYouMean(k, slaKeys), strings.Join(slaKeys, ", "))
		}
		d, err := ParseDuration(v)
		if err != nil {
			return fmt.Errorf("sla: %s: %w", k, err)
		}
		*slaField(s, k) = d
	}
	return nil
}
