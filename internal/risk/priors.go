package risk

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"

	"github.com/patchpilot/patchpilot"
)

// Priors are the cold-start figures: failure rates from public data about
// security updates that later needed a regression fix. cmd/riskpriors
// computes them from ../shared/data/regression and writes priors.json,
// which is embedded here; the product never reads the public files.
type Priors struct {
	// Global is the rate over every update.
	Global RateCount `json:"global"`
	// Categories are the rates per package category.
	Categories map[string]RateCount `json:"categories"`
	// CVEBuckets are the rates by the number of CVEs an update fixes.
	CVEBuckets []CVEBucket `json:"cve_buckets"`
	// Trackers are the rates per advisory list (DSA, DLA, USN).
	Trackers map[string]RateCount `json:"trackers,omitempty"`
	// NewUpstream and Backport are the rates of updates that bring a new
	// upstream version and of those that backport a fix.
	NewUpstream RateCount  `json:"new_upstream"`
	Backport    RateCount  `json:"backport"`
	Provenance  Provenance `json:"provenance"`
}

// RateCount is a rate with the counts it comes from.
type RateCount struct {
	Failures int     `json:"failures"`
	Total    int     `json:"total"`
	Rate     float64 `json:"rate"`
}

// CVEBucket is the rate of updates fixing Min to Max CVEs (Max 0: no bound).
type CVEBucket struct {
	Min int `json:"min"`
	Max int `json:"max,omitempty"`
	RateCount
}

// Provenance says where the priors come from.
type Provenance struct {
	Files       []SourceFile `json:"files"`
	From        string       `json:"from"`
	To          string       `json:"to"`
	Label       string       `json:"label"`
	Excluded    string       `json:"excluded"`
	GeneratedBy string       `json:"generated_by"`
}

// SourceFile is one input of the priors.
type SourceFile struct {
	Name string `json:"name"`
	Rows int    `json:"rows"`
	Used int    `json:"used"`
}

//go:embed priors.json
var embeddedPriors []byte

// DefaultPriors returns the embedded priors.
func DefaultPriors() (Priors, error) { return ParsePriors(embeddedPriors, "embedded priors.json") }

// ParsePriors reads priors written by cmd/riskpriors.
func ParsePriors(data []byte, source string) (Priors, error) {
	var p Priors
	if err := json.Unmarshal(data, &p); err != nil {
		return Priors{}, patchpilot.Errorf(patchpilot.EINVALID, "%s: invalid priors: %w", source, err).
			WithHint("regenerate the file with cmd/riskpriors")
	}
	if p.Global.Total <= 0 || p.Global.Rate <= 0 || p.Global.Rate >= 1 {
		return Priors{}, patchpilot.Errorf(patchpilot.EINVALID, "%s: field \"global\": expected a rate between 0 and 1 over at least one update", source).
			WithHint("regenerate the file with cmd/riskpriors")
	}
	return p, nil
}

// CategoryRatio is how much riskier a category is than the average update
// in the public data (1 when unknown). Ratios, not rates, carry over to a
// fleet whose own base rate differs from the public one.
func (p Priors) CategoryRatio(category string) float64 {
	c, ok := p.Categories[category]
	if !ok || c.Total == 0 || p.Global.Rate <= 0 {
		return 1
	}
	// Shrink the category's rate toward the global one so that a category
	// seen a handful of times does not get an extreme ratio.
	rate := (float64(c.Failures) + priorsCategoryStrength*p.Global.Rate) / (float64(c.Total) + priorsCategoryStrength)
	return rate / p.Global.Rate
}

// CVELogOdds is the public log-odds shift of fixing n CVEs, against the
// global rate.
func (p Priors) CVELogOdds(n int) float64 {
	if b, ok := p.cveBucket(n); ok {
		return logit(b.Rate) - logit(p.Global.Rate)
	}
	return 0
}

// cveBucket is the public bucket of updates fixing n CVEs, with its rate
// shrunk toward the global one as CVELogOdds uses it.
func (p Priors) cveBucket(n int) (CVEBucket, bool) {
	for _, b := range p.CVEBuckets {
		if n >= b.Min && (b.Max == 0 || n <= b.Max) && b.Total > 0 {
			b.Rate = (float64(b.Failures) + priorsCategoryStrength*p.Global.Rate) / (float64(b.Total) + priorsCategoryStrength)
			return b, true
		}
	}
	return CVEBucket{}, false
}

// words names the bucket's range: "no CVE", "1 CVE", "2 to 4 CVEs", "5 or
// more CVEs".
func (b CVEBucket) words() string {
	switch {
	case b.Max == 0 && b.Min == 0:
		return "any number of CVEs"
	case b.Max == 0:
		return fmt.Sprintf("%d or more CVEs", b.Min)
	case b.Min == b.Max && b.Min == 0:
		return "no CVE"
	case b.Min == 0 && b.Max == 1:
		return "at most 1 CVE"
	case b.Min == 0:
		return fmt.Sprintf("at most %d CVEs", b.Max)
	case b.Min == b.Max && b.Min == 1:
		return "1 CVE"
	case b.Min == b.Max:
		return fmt.Sprintf("%d CVEs", b.Min)
	}
	return fmt.Sprintf("%d to %d CVEs", b.Min, b.Max)
}

// priorsCategoryStrength is the pseudo-count with which public category and
// CVE-bucket rates are shrunk toward the public global rate.
const priorsCategoryStrength = 50

const probFloor = 1e-4

func clampProb(p float64) float64 { return math.Min(math.Max(p, probFloor), 1-probFloor) }

func logit(p float64) float64 { p = clampProb(p); return math.Log(p / (1 - p)) }

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}
