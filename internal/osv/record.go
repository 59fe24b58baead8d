package osv

import "encoding/json"

// record is the subset of an OSV record that patchpilot reads. Unknown
// fields are ignored, as the schema asks of consumers.
type record struct {
	SchemaVersion    string                     `json:"schema_version"`
	ID               *string                    `json:"id"`
	Modified         *string                    `json:"modified"`
	Published        string                     `json:"published"`
	Withdrawn        string                     `json:"withdrawn"`
	Aliases          []string                   `json:"aliases"`
	Upstream         []string                   `json:"upstream"`
	Related          []string                   `json:"related"`
	Summary          string                     `json:"summary"`
	Severity         []severityEntry            `json:"severity"`
	Affected         []affectedEntry            `json:"affected"`
	DatabaseSpecific map[string]json.RawMessage `json:"database_specific"`
}

type severityEntry struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

type affectedEntry struct {
	Package           *packageEntry              `json:"package"`
	Severity          []severityEntry            `json:"severity"`
	Ranges            []rangeEntry               `json:"ranges"`
	Versions          []string                   `json:"versions"`
	EcosystemSpecific map[string]json.RawMessage `json:"ecosystem_specific"`
	DatabaseSpecific  map[string]json.RawMessage `json:"database_specific"`
}

type packageEntry struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
}

type rangeEntry struct {
	Type   string                       `json:"type"`
	Events []map[string]json.RawMessage `json:"events"`
}

// Range types defined by the OSV schema.
const (
	rangeEcosystem = "ECOSYSTEM"
	rangeSemver    = "SEMVER"
	rangeGit       = "GIT"
)

// Event kinds defined by the OSV schema.
const (
	eventIntroduced   = "introduced"
	eventFixed        = "fixed"
	eventLastAffected = "last_affected"
	eventLimit        = "limit"
)

// introducedZero is the introduced version that sorts before any other.
const introducedZero = "0"
