package osv

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// limitInfinity is the limit value that means "no limit".
const limitInfinity = "*"

// event is one decoded entry of a range's events list.
type event struct {
	kind    string
	version string
}

// convertRange validates one affected[].ranges[] entry and flattens its
// events into intervals. Ranges other than ECOSYSTEM are validated and then
// dropped (see the package documentation).
func convertRange(source, path string, family patchpilot.OSFamily, r *rangeEntry) ([]patchpilot.VersionRange, error) {
	switch r.Type {
	case rangeEcosystem, rangeSemver, rangeGit:
	case "":
		return nil, fieldError(source, path+".type", "required")
	default:
		return nil, fieldError(source, path+".type", "expected one of ECOSYSTEM, SEMVER, GIT, got %q", r.Type)
	}
	if len(r.Events) == 0 {
		return nil, fieldError(source, path+".events", "expected at least one event")
	}
	events := make([]event, 0, len(r.Events))
	introduced := false
	for i, obj := range r.Events {
		at := fmt.Sprintf("%s.events[%d]", path, i)
		ev, err := decodeEvent(source, at, obj)
		if err != nil {
			return nil, err
		}
		introduced = introduced || ev.kind == eventIntroduced
		if r.Type == rangeEcosystem && !(ev.kind == eventIntroduced && ev.version == introducedZero) &&
			!(ev.kind == eventLimit && strings.Contains(ev.version, limitInfinity)) {
			if err := checkVersion(source, at+"."+ev.kind, family, ev.version); err != nil {
				return nil, err
			}
		}
		events = append(events, ev)
	}
	if !introduced {
		return nil, fieldError(source, path+".events", "expected at least one introduced event")
	}
	if r.Type != rangeEcosystem {
		return nil, nil
	}
	intervals, limits := flatten(events)
	out, err := applyLimits(family, intervals, limits)
	if err != nil {
		return nil, fieldError(source, path+".events", "%v", err)
	}
	return out, nil
}

// decodeEvent checks that an event object has exactly one known key with a
// non-empty string value.
func decodeEvent(source, path string, obj map[string]json.RawMessage) (event, error) {
	const expected = "expected one of introduced, fixed, last_affected, limit"
	if len(obj) != 1 {
		return event{}, fieldError(source, path, "%s (exactly one per event), got %d keys", expected, len(obj))
	}
	var k string
	var raw json.RawMessage
	for k, raw = range obj {
	}
	switch k {
	case eventIntroduced, eventFixed, eventLastAffected, eventLimit:
	default:
		return event{}, fieldError(source, path, "%s, got %q", expected, k)
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return event{}, fieldError(source, path+"."+k, "expected a string, got %s", snippet(raw))
	}
	if v == "" {
		return event{}, fieldError(source, path+"."+k, "expected a version, got an empty string")
	}
	return event{kind: k, version: v}, nil
}

// flatten turns events, in the order given, into intervals: introduced
// opens one (unless one is open already), fixed or last_affected closes the
// open one; a closing event without an open interval closes nothing. Limits
// are returned separately because they cap the whole range.
func flatten(events []event) (intervals []patchpilot.VersionRange, limits []string) {
	open := false
	for _, ev := range events {
		switch ev.kind {
		case eventIntroduced:
			if !open {
				intervals = append(intervals, patchpilot.VersionRange{Introduced: ev.version})
				open = true
			}
		case eventFixed:
			if open {
				intervals[len(intervals)-1].Fixed = ev.version
				open = false
			}
		case eventLastAffected:
			if open {
				intervals[len(intervals)-1].LastAffected = ev.version
				open = false
			}
		case eventLimit:
			limits = append(limits, ev.version)
		}
	}
	return intervals, limits
}

// applyLimits caps intervals at the range's limit: a version is affected
// only if it is below some limit, so below the highest one. Without a
// version order for the family, or with an infinite limit, the intervals
// are left as they are.
func applyLimits(family patchpilot.OSFamily, intervals []patchpilot.VersionRange, limits []string) ([]patchpilot.VersionRange, error) {
	if len(limits) == 0 || family == patchpilot.FamilyUnknown {
		return intervals, nil
	}
	top := ""
	for _, l := range limits {
		if strings.Contains(l, limitInfinity) {
			return intervals, nil
		}
		if top == "" {
			top = l
			continue
		}
		c, err := compareVersions(family, l, top)
		if err != nil {
			return nil, err
		}
		if c > 0 {
			top = l
		}
	}
	out := intervals[:0]
	for _, iv := range intervals {
		if iv.Introduced != introducedZero {
			c, err := compareVersions(family, iv.Introduced, top)
			if err != nil {
				return nil, err
			}
			if c >= 0 {
				continue // starts at or above the limit: nothing affected
			}
		}
		switch {
		case iv.Fixed != "":
			c, err := compareVersions(family, iv.Fixed, top)
			if err != nil {
				return nil, err
			}
			if c > 0 {
				iv.Fixed = top
			}
		case iv.LastAffected != "":
			c, err := compareVersions(family, iv.LastAffected, top)
			if err != nil {
				return nil, err
			}
			if c >= 0 {
				iv.LastAffected, iv.Fixed = "", top
			}
		default:
			iv.Fixed = top
		}
		out = append(out, iv)
	}
	return out, nil
}

// maxSnippet bounds how much of an offending JSON value an error quotes.
const maxSnippet = 40

// snippet returns raw JSON for an error message, shortened if long.
func snippet(raw json.RawMessage) string {
	if len(raw) <= maxSnippet {
		return string(raw)
	}
	return string(raw[:maxSnippet]) + "..."
}
