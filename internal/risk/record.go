package risk

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/capped"
)

// Record is one package update on one host and how it ended: one line of
// the history file (JSONL). Time, Package and Outcome are required; every
// other field may be missing, and the model then falls back on what it
// knows (the category from the package name, the fleet's and the public
// rates). The optional fields after Reason come from the dry run and the
// inventory when the controller recorded them.
type Record struct {
	Time           time.Time              `json:"time"`
	Host           string                 `json:"host,omitempty"`
	OS             string                 `json:"os,omitempty"` // "debian:12"
	Labels         map[string]string      `json:"labels,omitempty"`
	Package        string                 `json:"package"`
	SourcePackage  string                 `json:"source_package,omitempty"`
	FromVersion    string                 `json:"from_version,omitempty"`
	ToVersion      string                 `json:"to_version,omitempty"`
	Category       string                 `json:"category,omitempty"`
	CVEs           []string               `json:"cves,omitempty"`
	Severity       string                 `json:"severity,omitempty"`
	RebootRequired bool                   `json:"reboot_required,omitempty"`
	Outcome        patchpilot.OutcomeKind `json:"outcome,omitempty"`
	Reason         string                 `json:"reason,omitempty"`

	// CVECount is the number of CVEs fixed when the ids are not known
	// (public advisory lists give only a count). CVEs wins when both are set.
	CVECount int `json:"cve_count,omitempty"`
	// Rollout names the rollout the outcome belongs to.
	Rollout string `json:"rollout,omitempty"`
	// TransactionSize is the number of packages the dry run changes.
	TransactionSize int `json:"transaction_size,omitempty"`
	// Removals are the packages the dry run removes; Conflicts reports
	// held or conflicting packages.
	Removals  []string `json:"removals,omitempty"`
	Conflicts bool     `json:"conflicts,omitempty"`
	// Services are the host's running services; Dependents is the number
	// of installed packages that depend on this one.
	Services   []string `json:"services,omitempty"`
	Dependents int      `json:"dependents,omitempty"`

	// The facts below are shown with an assessment and are no feature of
	// the model. BlastRadius is who depends on what the update touches
	// (the dependency map at assess time); OSFamily, Modified and Held
	// come from the host's facts in depth: the package's files changed
	// on the host and whether the host holds the package.
	BlastRadius *BlastRadius              `json:"blast_radius,omitempty"`
	OSFamily    patchpilot.OSFamily       `json:"os_family,omitempty"`
	Modified    []patchpilot.ModifiedFile `json:"modified,omitempty"`
	Held        bool                      `json:"held,omitempty"`

	// Unrelated, on a failed or rolled-back record, says why the failure
	// is not the patch's (patchpilot.Outcome.Unrelated): the record stays
	// in the history and its exports, but the model, its statistics and
	// its calibration do not count it (Counts).
	Unrelated string `json:"unrelated,omitempty"`
}

// Outcomes accepted in history files. Rollback failures and unreachable
// hosts are recorded by the controller but are not lines of the history:
// FromOutcome folds a failed rollback into "failed" and drops unreachable
// hosts, whose patch may never have been applied.
func historyOutcomes() []patchpilot.OutcomeKind {
	return []patchpilot.OutcomeKind{patchpilot.OutcomeSucceeded, patchpilot.OutcomeFailed, patchpilot.OutcomeRolledBack}
}

// Failed reports whether the record counts as a failure for the model: the
// update failed or had to be rolled back.
func (r Record) Failed() bool {
	return r.Unrelated == "" && (r.Outcome == patchpilot.OutcomeFailed || r.Outcome == patchpilot.OutcomeRolledBack)
}

// Counts reports whether the model learns from the record: every record
// but a failure labelled Unrelated, which says nothing about the patch
// (it is neither the patch's failure nor a success).
func (r Record) Counts() bool {
	return r.Unrelated == "" || r.Outcome == patchpilot.OutcomeSucceeded
}

// Counting returns the records the model learns from (Counts), in order.
func Counting(records []Record) []Record {
	out := make([]Record, 0, len(records))
	for _, r := range records {
		if r.Counts() {
			out = append(out, r)
		}
	}
	return out
}

// Role is the host's role label, or "".
func (r Record) Role() string { return r.Labels[patchpilot.LabelRole] }

// Source returns the source package, or the package itself when unknown.
func (r Record) Source() string {
	if r.SourcePackage != "" {
		return r.SourcePackage
	}
	return r.Package
}

// CVETotal is the number of CVEs the update fixes.
func (r Record) CVETotal() int {
	if len(r.CVEs) > 0 {
		return len(r.CVEs)
	}
	return max(r.CVECount, 0)
}

// Caps on a history (docs/cli.md, Input size caps): a longer line or file
// is an error naming the file (and line), not an out-of-memory.
const (
	// MaxHistoryLineBytes bounds one line; a record is a few hundred
	// bytes, a few KiB with long lists of CVEs or services.
	MaxHistoryLineBytes = 1 << 20
	// MaxHistoryBytes bounds a whole history file, about a million
	// records, all of which the reader holds in memory.
	MaxHistoryBytes = 256 << 20
)

// ReadHistory reads a JSONL history of at most MaxHistoryBytes, with lines
// of at most MaxHistoryLineBytes. Blank lines are skipped. Errors name
// source:line and the field at fault; a field that is not one of Record's
// is refused, as a misspelt field would otherwise be silently dropped.
// Records keep the file's order; the model sorts them by time itself.
func ReadHistory(r io.Reader, source string) ([]Record, error) {
	sc := bufio.NewScanner(capped.NewReader(r, source, "history file", MaxHistoryBytes))
	sc.Buffer(make([]byte, 0, 64*1024), MaxHistoryLineBytes)
	var out []Record
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		rec, err := parseRecord(text)
		if err != nil {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: %s", source, line, err.Error()).
				WithHint("each line must be a JSON object with at least time (RFC 3339), package and outcome (succeeded, failed or rolled_back)")
		}
		out = append(out, rec)
	}
	switch err := sc.Err(); {
	case err == nil:
	case errors.Is(err, capped.ErrTooLarge):
		return nil, err
	case errors.Is(err, bufio.ErrTooLong):
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: line is longer than the limit of %s",
			source, line+1, capped.Size(MaxHistoryLineBytes)).
			WithHint("each line must be one JSON record; check that the file is JSONL (one object per line)")
	default:
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: read history: %w", source, line+1, err)
	}
	return out, nil
}

func parseRecord(text []byte) (Record, error) {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	var rec Record
	if err := dec.Decode(&rec); err != nil {
		var te *json.UnmarshalTypeError
		var pe *time.ParseError
		switch {
		case strings.HasPrefix(err.Error(), unknownFieldPrefix):
			// encoding/json reports an unknown field only in its message.
			name := strings.TrimPrefix(err.Error(), unknownFieldPrefix)
			return rec, fmt.Errorf("unknown field %s (known fields: %s)", name, strings.Join(recordFields(), ", "))
		case asError(err, &te):
			return rec, fmt.Errorf("field %q: expected %s, got JSON %s", te.Field, te.Type.String(), te.Value)
		case asError(err, &pe):
			return rec, fmt.Errorf("field \"time\": expected an RFC 3339 time such as 2024-05-01T10:00:00Z, got %s", pe.Value)
		}
		return rec, fmt.Errorf("invalid JSON: %v", err)
	}
	if dec.More() {
		return rec, fmt.Errorf("more than one JSON value on the line")
	}
	if rec.Time.IsZero() {
		return rec, fmt.Errorf("field \"time\" is missing")
	}
	if strings.TrimSpace(rec.Package) == "" {
		return rec, fmt.Errorf("field \"package\" is missing")
	}
	if rec.Outcome == "" {
		return rec, fmt.Errorf("field \"outcome\" is missing")
	}
	if !validOutcome(rec.Outcome) {
		return rec, fmt.Errorf("field \"outcome\": expected succeeded, failed or rolled_back, got %q", rec.Outcome)
	}
	if rec.CVECount < 0 {
		return rec, fmt.Errorf("field \"cve_count\": expected a count, got %d", rec.CVECount)
	}
	if rec.Unrelated != "" {
		if strings.TrimSpace(rec.Unrelated) == "" {
			return rec, fmt.Errorf("field \"unrelated\": expected why the failure is not the patch's, such as \"fault injected\", got only blanks")
		}
		if rec.Outcome == patchpilot.OutcomeSucceeded {
			return rec, fmt.Errorf("field \"unrelated\": only a failed or rolled_back record can be labelled unrelated, got outcome succeeded")
		}
	}
	return rec, nil
}

// unknownFieldPrefix starts encoding/json's error for a field that
// DisallowUnknownFields refuses: json: unknown field "name".
const unknownFieldPrefix = "json: unknown field "

// recordFields lists the JSON names of Record's fields, in order.
func recordFields() []string {
	t := reflect.TypeFor[Record]()
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	return names
}

func validOutcome(k patchpilot.OutcomeKind) bool {
	for _, v := range historyOutcomes() {
		if k == v {
			return true
		}
	}
	return false
}

// WriteHistory writes records as JSONL, one per line, in the given order.
func WriteHistory(w io.Writer, records []Record) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for i, r := range records {
		if err := enc.Encode(r); err != nil {
			return patchpilot.Errorf(patchpilot.EINTERNAL, "write history record %d: %w", i+1, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "write history: %w", err)
	}
	return nil
}
