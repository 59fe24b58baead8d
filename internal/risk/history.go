package risk

import (
	"sort"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Count is a number of failures out of a number of updates.
type Count struct {
	Failures int `json:"f"`
	Total    int `json:"n"`
}

func (c *Count) add(failed bool) {
	c.Total++
	if failed {
		c.Failures++
	}
}

// Rate is the raw failure rate, 0 when there is no update.
func (c Count) Rate() float64 {
	if c.Total == 0 {
		return 0
	}
	return float64(c.Failures) / float64(c.Total)
}

// LastOutcome is the most recent outcome on a host.
type LastOutcome struct {
	Time    time.Time              `json:"time"`
	Package string                 `json:"package"`
	Outcome patchpilot.OutcomeKind `json:"outcome"`
}

// History is what the fleet's past outcomes say, as counts. Features are
// computed from a History holding only the records strictly before the one
// being scored, so that no outcome informs its own prediction. A History is
// part of a saved model and grows as new outcomes are observed.
type History struct {
	Global      Count                  `json:"global"`
	Package     map[string]Count       `json:"package"`      // by source package
	Category    map[string]Count       `json:"category"`     // by category
	Host        map[string]Count       `json:"host"`         // by host name
	Role        map[string]Count       `json:"role"`         // by role label
	PackageRole map[string]Count       `json:"package_role"` // "source@role"
	Version     map[string]Count       `json:"version"`      // "source=version"
	HostLast    map[string]LastOutcome `json:"host_last"`
}

// NewHistory returns an empty history.
func NewHistory() *History {
	return &History{
		Package: map[string]Count{}, Category: map[string]Count{}, Host: map[string]Count{},
		Role: map[string]Count{}, PackageRole: map[string]Count{}, Version: map[string]Count{},
		HostLast: map[string]LastOutcome{},
	}
}

func packageRoleKey(source, role string) string { return source + "@" + role }
func versionKey(source, version string) string  { return source + "=" + version }

func bump(m map[string]Count, key string, failed bool) {
	if key == "" {
		return
	}
	c := m[key]
	c.add(failed)
	m[key] = c
}

// Observe adds one outcome to the history. A failure labelled Unrelated
// is not counted (Record.Counts).
func (h *History) Observe(r Record) {
	if !r.Counts() {
		return
	}
	failed := r.Failed()
	src := r.Source()
	h.Global.add(failed)
	bump(h.Package, src, failed)
	bump(h.Category, r.CategoryOf(), failed)
	bump(h.Host, r.Host, failed)
	if role := r.Role(); role != "" {
		bump(h.Role, role, failed)
		bump(h.PackageRole, packageRoleKey(src, role), failed)
	}
	if r.ToVersion != "" {
		bump(h.Version, versionKey(src, r.ToVersion), failed)
	}
	if r.Host != "" {
		if last, ok := h.HostLast[r.Host]; !ok || !r.Time.Before(last.Time) {
			h.HostLast[r.Host] = LastOutcome{Time: r.Time, Package: r.Package, Outcome: r.Outcome}
		}
	}
}

// clone returns a deep copy, so that scoring a test set never changes a
// saved model's history.
func (h *History) clone() *History {
	c := &History{Global: h.Global, Package: cloneCounts(h.Package), Category: cloneCounts(h.Category),
		Host: cloneCounts(h.Host), Role: cloneCounts(h.Role), PackageRole: cloneCounts(h.PackageRole),
		Version: cloneCounts(h.Version), HostLast: make(map[string]LastOutcome, len(h.HostLast))}
	for k, v := range h.HostLast {
		c.HostLast[k] = v
	}
	return c
}

func cloneCounts(m map[string]Count) map[string]Count {
	out := make(map[string]Count, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// sortByTime returns the records ordered by time, keeping the file's order
// among equal times.
func sortByTime(records []Record) []Record {
	out := append([]Record(nil), records...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// walk visits records in time order. Each group of records sharing one
// time is scored before any of them is added to the history: features see
// strictly earlier outcomes only.
func walk(records []Record, h *History, score func(i int, r Record, h *History)) {
	sorted := sortByTime(records)
	for start := 0; start < len(sorted); {
		end := start + 1
		for end < len(sorted) && sorted[end].Time.Equal(sorted[start].Time) {
			end++
		}
		for i := start; i < end; i++ {
			score(i, sorted[i], h)
		}
		for i := start; i < end; i++ {
			h.Observe(sorted[i])
		}
		start = end
	}
}
