package osv

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	gocvss40 "github.com/pandatix/go-cvss/40"
)

// CVSS v3.x base metric weights, from the FIRST CVSS v3.1 specification,
// section 7.4.
var (
	cvss3AV  = map[string]float64{"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
	cvss3AC  = map[string]float64{"L": 0.77, "H": 0.44}
	cvss3UI  = map[string]float64{"N": 0.85, "R": 0.62}
	cvss3CIA = map[string]float64{"H": 0.56, "L": 0.22, "N": 0}
	// Privileges Required weighs more when the scope changes.
	cvss3PRUnchanged = map[string]float64{"N": 0.85, "L": 0.62, "H": 0.27}
	cvss3PRChanged   = map[string]float64{"N": 0.85, "L": 0.68, "H": 0.5}
	cvss3Scope       = map[string]float64{"U": 0, "C": 0}
)

// cvss3Optional are the temporal and environmental metrics a v3 vector may
// carry; they do not change the base score.
var cvss3Optional = map[string]bool{
	"E": true, "RL": true, "RC": true, "CR": true, "IR": true, "AR": true,
	"MAV": true, "MAC": true, "MPR": true, "MUI": true, "MS": true,
	"MC": true, "MI": true, "MA": true,
}

// cvss3Score computes the base score of a CVSS v3.0 or v3.1 vector with the
// v3.1 formula. (v3.0 differs only in its rounding, which v3.1 fixed for
// floating-point error; the results agree except on those errors.)
func cvss3Score(vector string) (float64, error) {
	rest, ok := strings.CutPrefix(vector, "CVSS:3.1/")
	if !ok {
		rest, ok = strings.CutPrefix(vector, "CVSS:3.0/")
	}
	if !ok {
		return 0, fmt.Errorf("CVSS v3 vector must start with CVSS:3.0/ or CVSS:3.1/, got %q", vector)
	}
	base := map[string]map[string]float64{
		"AV": cvss3AV, "AC": cvss3AC, "PR": cvss3PRUnchanged, "UI": cvss3UI,
		"S": cvss3Scope, "C": cvss3CIA, "I": cvss3CIA, "A": cvss3CIA,
	}
	m, err := parseMetrics(rest, base, cvss3Optional)
	if err != nil {
		return 0, fmt.Errorf("CVSS v3 vector %q: %w", vector, err)
	}
	changed := m["S"] == "C"
	pr := cvss3PRUnchanged[m["PR"]]
	if changed {
		pr = cvss3PRChanged[m["PR"]]
	}
	iss := 1 - (1-cvss3CIA[m["C"]])*(1-cvss3CIA[m["I"]])*(1-cvss3CIA[m["A"]])
	var impact float64
	if changed {
		impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
	} else {
		impact = 6.42 * iss
	}
	exploitability := 8.22 * cvss3AV[m["AV"]] * cvss3AC[m["AC"]] * pr * cvss3UI[m["UI"]]
	if impact <= 0 {
		return 0, nil
	}
	if changed {
		return roundup(math.Min(1.08*(impact+exploitability), 10)), nil
	}
	return roundup(math.Min(impact+exploitability, 10)), nil
}

// roundup is the CVSS v3.1 Roundup function (specification, Appendix A):
// the smallest number with one decimal place that is equal to or higher
// than its input, computed on integers to avoid floating-point error.
func roundup(x float64) float64 {
	i := int64(math.Round(x * 100000))
	if i%10000 == 0 {
		return float64(i) / 100000
	}
	return float64(i/10000+1) / 10
}

// CVSS v2 base metric weights, from the FIRST CVSS v2 guide, section 3.2.1.
var (
	cvss2AV  = map[string]float64{"L": 0.395, "A": 0.646, "N": 1.0}
	cvss2AC  = map[string]float64{"H": 0.35, "M": 0.61, "L": 0.71}
	cvss2Au  = map[string]float64{"M": 0.45, "S": 0.56, "N": 0.704}
	cvss2CIA = map[string]float64{"N": 0, "P": 0.275, "C": 0.660}
)

// cvss2Optional are the temporal and environmental metrics of a v2 vector.
var cvss2Optional = map[string]bool{
	"E": true, "RL": true, "RC": true, "CDP": true, "TD": true,
	"CR": true, "IR": true, "AR": true,
}

// cvss2Score computes the base score of a CVSS v2 vector
// ("AV:N/AC:L/Au:N/C:P/I:P/A:P", optionally prefixed "CVSS:2.0/").
func cvss2Score(vector string) (float64, error) {
	rest := strings.TrimPrefix(strings.TrimPrefix(vector, "("), "CVSS:2.0/")
	rest = strings.TrimSuffix(rest, ")")
	base := map[string]map[string]float64{
		"AV": cvss2AV, "AC": cvss2AC, "Au": cvss2Au,
		"C": cvss2CIA, "I": cvss2CIA, "A": cvss2CIA,
	}
	m, err := parseMetrics(rest, base, cvss2Optional)
	if err != nil {
		return 0, fmt.Errorf("CVSS v2 vector %q: %w", vector, err)
	}
	impact := 10.41 * (1 - (1-cvss2CIA[m["C"]])*(1-cvss2CIA[m["I"]])*(1-cvss2CIA[m["A"]]))
	exploitability := 20 * cvss2AV[m["AV"]] * cvss2AC[m["AC"]] * cvss2Au[m["Au"]]
	f := 1.176
	if impact == 0 {
		f = 0
	}
	score := (0.6*impact + 0.4*exploitability - 1.5) * f
	// Round to one decimal; the small bias absorbs floating-point error
	// such as 7.4999999 for a score the guide gives as 7.5.
	return math.Round(score*10+1e-9) / 10, nil
}

// cvss4Score computes the score of a CVSS v4.0 vector.
func cvss4Score(vector string) (float64, error) {
	v, err := gocvss40.ParseVector(vector)
	if err != nil {
		return 0, fmt.Errorf("CVSS v4 vector %q: %w", vector, err)
	}
	return v.Score(), nil
}

// parseMetrics splits "K:V/K:V" and checks that every base metric appears
// exactly once with a defined value; optional metrics are accepted and
// ignored.
func parseMetrics(s string, base map[string]map[string]float64, optional map[string]bool) (map[string]string, error) {
	m := make(map[string]string, len(base))
	seen := make(map[string]bool, len(base))
	for _, part := range strings.Split(s, "/") {
		k, v, ok := strings.Cut(part, ":")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("malformed metric %q", part)
		}
		if seen[k] {
			return nil, fmt.Errorf("metric %s given twice", k)
		}
		seen[k] = true
		if values, isBase := base[k]; isBase {
			if _, defined := values[v]; !defined {
				return nil, fmt.Errorf("metric %s has no value %q", k, v)
			}
			m[k] = v
			continue
		}
		if !optional[k] {
			return nil, fmt.Errorf("unknown metric %q", k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(base)) {
		if _, ok := m[k]; !ok {
			return nil, fmt.Errorf("base metric %s missing", k)
		}
	}
	return m, nil
}
