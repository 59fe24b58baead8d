package risk

import (
	"encoding/binary"
	"slices"

	"github.com/patchpilot/patchpilot"
)

// PatchScorer scores patches host by host as Model.AssessPatch does, but
// scores each distinct patch once: most hosts of a fleet share the same
// updates, OS, role and host history, and their assessments differ only in
// the host they name. Two hosts' records are the same patch when they agree
// in everything the model reads (the host's identity aside: its history
// enters as its counts and last outcome, and no reason text names it), so
// the second host gets a copy of the first one's assessment with its own
// Host.
//
// The assessments it returns carry no Features, and share their Packages,
// Reasons and Warnings slices with the other hosts of the same patch: read
// them, do not change them. Records that name the host in a warning (a
// rolled-back last patch, files changed on the host, a held package) or
// carry a blast radius are scored on their own. A PatchScorer is not safe
// for concurrent use.
type PatchScorer struct {
	m    *Model
	done map[string]Assessment
	key  []byte
	// host is the host of the records keyed last, and hostKey what its
	// history writes into a key: a host's records come together.
	host    string
	hostKey []byte
}

// NewPatchScorer returns a scorer of patches with the model m.
func (m *Model) NewPatchScorer() *PatchScorer {
	return &PatchScorer{m: m, done: map[string]Assessment{}}
}

// AssessPatch returns what m.AssessPatch(updates) returns, without its
// Features.
func (s *PatchScorer) AssessPatch(updates []Record) Assessment {
	if !s.keyOf(updates) {
		a := s.m.AssessPatch(updates)
		a.Features = nil
		return a
	}
	if a, ok := s.done[string(s.key)]; ok {
		a.Host = updates[0].Host
		return a
	}
	a := s.m.AssessPatch(updates)
	a.Features = nil
	// Clipped, an append to one host's slice makes a copy rather than
	// writing where another host's would.
	a.Packages, a.Reasons, a.Warnings = slices.Clip(a.Packages), slices.Clip(a.Reasons), slices.Clip(a.Warnings)
	s.done[string(s.key)] = a
	return a
}

// Distinct is how many distinct patches the scorer has scored for sharing.
func (s *PatchScorer) Distinct() int { return len(s.done) }

// keyOf writes into s.key everything of the records that the model, its
// reasons and its warnings read, and reports whether the records can share
// an assessment with other hosts' at all.
func (s *PatchScorer) keyOf(updates []Record) bool {
	k := s.key[:0]
	k = binary.AppendUvarint(k, uint64(len(updates)))
	for i := range updates {
		r := &updates[i]
		if r.BlastRadius != nil || len(r.Modified) > 0 || r.Held {
			return false
		}
		// The host: whether one is named, and its history.
		if r.Host == "" {
			k = append(k, 0)
		} else {
			k = append(k, 1)
			if r.Host != s.host || s.hostKey == nil {
				s.host, s.hostKey = r.Host, s.appendHostKey(s.hostKey[:0], r.Host)
			}
			k = append(k, s.hostKey...)
		}
		k = appendString(k, r.OS)
		k = appendString(k, string(r.OSFamily))
		k = appendString(k, r.Role())
		k = appendString(k, r.Package)
		k = appendString(k, r.SourcePackage)
		k = appendString(k, r.FromVersion)
		k = appendString(k, r.ToVersion)
		k = appendString(k, r.Category)
		k = binary.AppendVarint(k, int64(r.CVETotal()))
		k = appendString(k, r.Severity)
		k = appendBool(k, r.RebootRequired)
		k = binary.AppendVarint(k, int64(r.TransactionSize))
		k = binary.AppendUvarint(k, uint64(len(r.Removals)))
		for _, rm := range r.Removals {
			k = appendString(k, rm)
		}
		k = appendBool(k, r.Conflicts)
		k = binary.AppendUvarint(k, uint64(len(r.Services)))
		k = binary.AppendVarint(k, int64(r.Dependents))
	}
	s.key = k
	return true
}

// appendHostKey appends what a host's history gives its records: its
// counts and its last outcome.
func (s *PatchScorer) appendHostKey(k []byte, host string) []byte {
	c := s.m.History.Host[host]
	k = binary.AppendVarint(k, int64(c.Failures))
	k = binary.AppendVarint(k, int64(c.Total))
	if last, ok := s.m.History.HostLast[host]; ok {
		k = append(k, 1)
		k = appendString(k, last.Package)
		k = appendString(k, string(last.Outcome))
		if last.Outcome == patchpilot.OutcomeRolledBack {
			// Its warning names the host (and the day, which the
			// host's name determines).
			k = appendString(k, host)
		}
	} else {
		k = append(k, 0)
	}
	return k
}

func appendString(k []byte, s string) []byte {
	k = binary.AppendUvarint(k, uint64(len(s)))
	return append(k, s...)
}

func appendBool(k []byte, b bool) []byte {
	if b {
		return append(k, 1)
	}
	return append(k, 0)
}
