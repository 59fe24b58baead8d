package osv

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// Normalised severity words, as strings: patchpilot.Severity's.
const (
	SeverityCritical = string(patchpilot.SeverityCritical)
	SeverityHigh     = string(patchpilot.SeverityHigh)
	SeverityMedium   = string(patchpilot.SeverityMedium)
	SeverityLow      = string(patchpilot.SeverityLow)
)

// Severity types of OSV's severity[] entries.
const (
	severityCVSSv2 = "CVSS_V2"
	severityCVSSv3 = "CVSS_V3"
	severityCVSSv4 = "CVSS_V4"
	severityUbuntu = "Ubuntu"
)

// priorityKeys are the keys under ecosystem_specific and database_specific
// that carry a distribution's own priority word, most specific first.
var priorityKeys = []string{"ubuntu_priority", "priority", "severity", "urgency"}

// ScoreWord maps a CVSS base score to a normalised word; a score of 0 (or
// none) has no word.
func ScoreWord(score float64) string { return string(patchpilot.SeverityOfScore(score)) }

// NormaliseWord maps a distribution's severity or priority word (Red Hat's
// Critical/Important/Moderate/Low, Ubuntu's critical/high/medium/low/
// negligible, Debian's urgencies) to a normalised word, by
// patchpilot.Severity's one ranking. A word it does not know is kept,
// lowercased, as the distribution's own.
func NormaliseWord(word string) string {
	return string(patchpilot.Severity(word).Normalised())
}

// scoredSeverity is what one severity[] list says.
type scoredSeverity struct {
	Score  float64 // CVSS base score, 0 when no vector could be scored
	Vector string  // the vector the score came from, or the only vector
	Word   string  // the distribution's own word (normalised), if any
	rank   int     // preference of the vector's CVSS version
}

// CVSS versions in order of preference when a record has several: v3 is
// what NVD and the distributions score with, v4 is newer but rarer, and v2
// is the fallback of old records.
const (
	rankNone = iota
	rankV2
	rankV4
	rankV3
)

// readSeverities evaluates a severity[] list at path. A CVSS vector that
// cannot be parsed is an error; types it does not know are ignored, as the
// schema lets new ones appear.
func readSeverities(source, path string, list []severityEntry) (scoredSeverity, error) {
	var out scoredSeverity
	for i, s := range list {
		at := path + "[" + strconv.Itoa(i) + "]"
		var (
			score float64
			rank  int
			err   error
		)
		switch s.Type {
		case severityCVSSv3:
			score, err = cvss3Score(s.Score)
			rank = rankV3
		case severityCVSSv2:
			score, err = cvss2Score(s.Score)
			rank = rankV2
		case severityCVSSv4:
			score, err = cvss4Score(s.Score)
			rank = rankV4
		case severityUbuntu:
			if out.Word == "" {
				out.Word = NormaliseWord(s.Score)
			}
			continue
		default:
			continue
		}
		if err != nil {
			return out, fieldError(source, at+".score", "%v", err)
		}
		if rank > out.rank {
			out.Score, out.Vector, out.rank = score, s.Score, rank
		}
	}
	return out, nil
}

// priorityWord returns the first priority word found in the given
// ecosystem_specific or database_specific objects, normalised.
func priorityWord(objects ...map[string]json.RawMessage) string {
	for _, obj := range objects {
		for _, key := range priorityKeys {
			raw, ok := obj[key]
			if !ok {
				continue
			}
			var s string
			if json.Unmarshal(raw, &s) == nil && strings.TrimSpace(s) != "" {
				return NormaliseWord(s)
			}
		}
	}
	return ""
}

// summaryWord returns the severity word that AlmaLinux and Rocky put before
// the summary ("Important: openssl security update"), if it is one.
func summaryWord(summary string) string {
	prefix, _, ok := strings.Cut(summary, ":")
	if !ok {
		return ""
	}
	switch strings.ToLower(strings.TrimSpace(prefix)) {
	case "critical", "important", "moderate", "low":
		return NormaliseWord(prefix)
	}
	return ""
}
