package osv

import (
	"fmt"
	"strings"

	gocvss20 "github.com/pandatix/go-cvss/20"
	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"
)

// cvss3Score computes the base score of a CVSS v3.0 or v3.1 vector, each
// with its own version's formula (github.com/pandatix/go-cvss).
func cvss3Score(vector string) (float64, error) {
	switch {
	case strings.HasPrefix(vector, "CVSS:3.1/"):
		v, err := gocvss31.ParseVector(vector)
		if err != nil {
			return 0, fmt.Errorf("CVSS v3 vector %q: %w", vector, err)
		}
		return v.BaseScore(), nil
	case strings.HasPrefix(vector, "CVSS:3.0/"):
		v, err := gocvss30.ParseVector(vector)
		if err != nil {
			return 0, fmt.Errorf("CVSS v3 vector %q: %w", vector, err)
		}
		return v.BaseScore(), nil
	}
	return 0, fmt.Errorf("CVSS v3 vector must start with CVSS:3.0/ or CVSS:3.1/, got %q", vector)
}

// cvss2Score computes the base score of a CVSS v2 vector
// ("AV:N/AC:L/Au:N/C:P/I:P/A:P"). OSV records and NVD also write it in
// parentheses or prefixed "CVSS:2.0/", which go-cvss does not accept, so
// both are removed first.
func cvss2Score(vector string) (float64, error) {
	rest := strings.TrimPrefix(strings.TrimPrefix(vector, "("), "CVSS:2.0/")
	rest = strings.TrimSuffix(rest, ")")
	v, err := gocvss20.ParseVector(rest)
	if err != nil {
		return 0, fmt.Errorf("CVSS v2 vector %q: %w", vector, err)
	}
	return v.BaseScore(), nil
}

// cvss4Score computes the score of a CVSS v4.0 vector.
func cvss4Score(vector string) (float64, error) {
	v, err := gocvss40.ParseVector(vector)
	if err != nil {
		return 0, fmt.Errorf("CVSS v4 vector %q: %w", vector, err)
	}
	return v.Score(), nil
}
