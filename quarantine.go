package patchpilot

import (
	"context"
	"strings"
	"time"
)

// HostClass is the class of hosts a quarantine applies to: the OS release
// and the role label, as "debian:12/web". A part that is unknown is "-"
// ("debian:12/-" for a host without a role label).
type HostClass string

// ClassOf is the class of a host with this OS ("debian:12", Outcome.OS or
// the facts' name and version) and labels (the role label).
func ClassOf(os string, labels map[string]string) HostClass {
	part := func(s string) string {
		s = strings.TrimSpace(s)
		if s == "" || s == ":" {
			return "-"
		}
		return s
	}
	return HostClass(part(os) + "/" + part(labels[LabelRole]))
}

// QuarantineClearance is a person's decision that a quarantined version
// may be offered again to a class of hosts (Class "" for every class). It
// lifts the quarantines of the version that rollbacks at or before
// ClearedAt put in place; a later rollback quarantines it again.
type QuarantineClearance struct {
	ID        int64     `json:"id"`
	Package   string    `json:"package"`
	Version   string    `json:"version"`
	Class     HostClass `json:"class,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	ClearedBy string    `json:"cleared_by"`
	ClearedAt time.Time `json:"cleared_at"`
}

// QuarantineStore keeps the clearances of quarantined versions; the
// quarantines themselves are derived from the stored outcomes.
type QuarantineStore interface {
	// ClearQuarantine stores a clearance and returns it with its ID (and
	// ClearedAt set from the store's clock when zero). Package, Version
	// and ClearedBy are required (EINVALID).
	ClearQuarantine(ctx context.Context, c QuarantineClearance) (QuarantineClearance, error)
	// QuarantineClearances lists every clearance, oldest first.
	QuarantineClearances(ctx context.Context) ([]QuarantineClearance, error)
}
