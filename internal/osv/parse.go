package osv

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
)

// cvePattern finds a CVE id inside another name ("UBUNTU-CVE-2014-0195").
var cvePattern = regexp.MustCompile(`CVE-[0-9]{4}-[0-9]{4,}`)

// Parse decodes one OSV record. source names where the record came from (a
// file name) and starts every error message. Syntax and type errors carry
// the JSON line and column; semantic errors carry the field path, e.g.
// "affected[0].ranges[1].events[0]".
func Parse(data []byte, source string) (patchpilot.Advisory, error) {
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return patchpilot.Advisory{}, decodeError(data, source, err)
	}
	return convert(&r, source)
}

func convert(r *record, source string) (patchpilot.Advisory, error) {
	var adv patchpilot.Advisory
	if r.ID == nil || *r.ID == "" {
		return adv, fieldError(source, "id", "required")
	}
	if r.Modified == nil || *r.Modified == "" {
		return adv, fieldError(source, "modified", "required")
	}
	modified, err := parseTime(source, "modified", *r.Modified)
	if err != nil {
		return adv, err
	}
	adv = patchpilot.Advisory{
		ID:       *r.ID,
		Summary:  r.Summary,
		Modified: modified,
		Source:   source,
		Aliases:  aliases(r),
	}
	if r.Published != "" {
		if adv.Published, err = parseTime(source, "published", r.Published); err != nil {
			return adv, err
		}
	}
	withdrawn := false
	if r.Withdrawn != "" {
		if _, err := parseTime(source, "withdrawn", r.Withdrawn); err != nil {
			return adv, err
		}
		withdrawn = true
	}

	top, err := readSeverities(source, "severity", r.Severity)
	if err != nil {
		return adv, err
	}
	best := top
	adv.Affected = make([]patchpilot.AffectedPackage, 0, len(r.Affected))
	for i := range r.Affected {
		ap, sev, err := convertAffected(source, fmt.Sprintf("affected[%d]", i), &r.Affected[i])
		if err != nil {
			return adv, err
		}
		// Without a record-wide vector, the most preferred and then highest
		// per-package one stands for the record.
		if top.rank == rankNone && (sev.rank > best.rank || (sev.rank == best.rank && sev.Score > best.Score)) {
			best.Score, best.Vector, best.rank = sev.Score, sev.Vector, sev.rank
		}
		adv.Affected = append(adv.Affected, ap)
	}
	adv.CVSS, adv.CVSSVector = best.Score, best.Vector
	adv.Severity = ScoreWord(best.Score)
	if adv.Severity == "" {
		adv.Severity = firstNonEmpty(top.Word, priorityWord(r.DatabaseSpecific), summaryWord(r.Summary))
	}
	if withdrawn {
		adv.Affected = nil
	}
	return adv, nil
}

func convertAffected(source, path string, a *affectedEntry) (patchpilot.AffectedPackage, scoredSeverity, error) {
	var ap patchpilot.AffectedPackage
	if a.Package == nil {
		return ap, scoredSeverity{}, fieldError(source, path+".package", "required")
	}
	if a.Package.Ecosystem == "" {
		return ap, scoredSeverity{}, fieldError(source, path+".package.ecosystem", "required")
	}
	if a.Package.Name == "" {
		return ap, scoredSeverity{}, fieldError(source, path+".package.name", "required")
	}
	ap.Ecosystem, ap.Name = a.Package.Ecosystem, a.Package.Name
	family := osfamily.FromEcosystem(ap.Ecosystem)

	sev, err := readSeverities(source, path+".severity", a.Severity)
	if err != nil {
		return ap, sev, err
	}
	ap.Severity = ScoreWord(sev.Score)
	if ap.Severity == "" {
		ap.Severity = firstNonEmpty(sev.Word, priorityWord(a.EcosystemSpecific, a.DatabaseSpecific))
	}

	for i, v := range a.Versions {
		if err := checkVersion(source, fmt.Sprintf("%s.versions[%d]", path, i), family, v); err != nil {
			return ap, sev, err
		}
	}
	ap.Versions = a.Versions
	for i := range a.Ranges {
		ranges, err := convertRange(source, fmt.Sprintf("%s.ranges[%d]", path, i), family, &a.Ranges[i])
		if err != nil {
			return ap, sev, err
		}
		ap.Ranges = append(ap.Ranges, ranges...)
	}
	return ap, sev, nil
}

func checkVersion(source, path string, family patchpilot.OSFamily, v string) error {
	if v == "" {
		return fieldError(source, path, "expected a version, got an empty string")
	}
	if err := validVersion(family, v); err != nil {
		return fieldError(source, path, "%v", err)
	}
	return nil
}

func parseTime(source, path, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, fieldError(source, path, "expected an RFC 3339 time, got %q", s)
	}
	return t, nil
}

// aliases returns the record's aliases followed by the CVE ids named in its
// upstream and related lists (and inside prefixed names such as
// "UBUNTU-CVE-2014-0195"), without duplicates.
func aliases(r *record) []string {
	var out []string
	seen := map[string]bool{*r.ID: true}
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, s := range r.Aliases {
		add(s)
	}
	for _, list := range [][]string{{*r.ID}, r.Aliases, r.Upstream, r.Related} {
		for _, s := range list {
			add(cvePattern.FindString(s))
		}
	}
	return out
}

func firstNonEmpty(words ...string) string {
	for _, w := range words {
		if w != "" {
			return w
		}
	}
	return ""
}
