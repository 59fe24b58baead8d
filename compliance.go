package patchpilot

import (
	"context"
	"time"
)

// SLAExposure is what a host's collection showed of its patch deadlines:
// for each normalised severity ("critical", "high", "medium", "low", or ""
// for unrated), when the oldest security update of that severity then
// pending on the host became available. A severity with nothing pending is
// absent. Compliance over time is read from these, against the deadlines
// of the policy in force when it is read.
type SLAExposure struct {
	Host        string                 `json:"host"`
	CollectedAt time.Time              `json:"collected_at"`
	Oldest      map[Severity]time.Time `json:"oldest"`
}

// ComplianceStore keeps each host's SLA exposure at each collection, a
// rollup small enough to read for every day of a period.
type ComplianceStore interface {
	// SaveSLAExposures stores exposures in one transaction. One of a
	// host at the time of a stored one replaces it; one equal to the
	// host's latest stored exposure before it (same oldest times) need
	// not be stored, since it changes nothing. The hosts need not exist:
	// hosts are named, as outcomes name them.
	SaveSLAExposures(ctx context.Context, exposures []SLAExposure) error
	// SLAExposures returns, for each host, its latest exposure at or
	// before from, and every exposure after from up to and including to,
	// ordered by host, then time. from must not be after to.
	SLAExposures(ctx context.Context, from, to time.Time) ([]SLAExposure, error)
}
