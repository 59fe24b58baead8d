package prometheus

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// Point is one sample value at one time. Value may be NaN or infinite.
type Point struct {
	Time  time.Time `json:"time"`
	Value float64   `json:"value"`
}

// Valid reports whether the value is a finite number.
func (p Point) Valid() bool { return !math.IsNaN(p.Value) && !math.IsInf(p.Value, 0) }

// MarshalJSON writes NaN and infinities as strings, as Prometheus does,
// because JSON has no numbers for them.
func (p Point) MarshalJSON() ([]byte, error) {
	type point struct {
		Time  time.Time `json:"time"`
		Value any       `json:"value"`
	}
	var v any = p.Value
	if !p.Valid() {
		v = strconv.FormatFloat(p.Value, 'f', -1, 64)
	}
	return json.Marshal(point{p.Time, v})
}

// Sample is one series of an instant vector.
type Sample struct {
	Metric map[string]string `json:"metric"`
	Point
}

// Vector is the result of an instant query.
type Vector []Sample

// Fresh returns the samples no older than maxAge before now. Prometheus
// already drops series that went stale (no sample for five minutes, or an
// explicit staleness marker); Fresh lets a caller demand a tighter bound.
func (v Vector) Fresh(now time.Time, maxAge time.Duration) Vector {
	var out Vector
	for _, s := range v {
		if now.Sub(s.Time) <= maxAge {
			out = append(out, s)
		}
	}
	return out
}

// Series is one series of a range query.
type Series struct {
	Metric map[string]string `json:"metric"`
	Points []Point           `json:"points"`
}

// Matrix is the result of a range query.
type Matrix []Series

type rawSeries struct {
	Metric map[string]string `json:"metric"`
	Value  rawPoint          `json:"value"`
}

type rawRangeSeries struct {
	Metric map[string]string `json:"metric"`
	Values []rawPoint        `json:"values"`
}

// rawPoint is the API's [unix_seconds, "value"] pair.
type rawPoint [2]json.RawMessage

func (r rawPoint) point() (Point, error) {
	var ts float64
	if err := json.Unmarshal(r[0], &ts); err != nil {
		return Point{}, errorf("sample time %s: %w", r[0], err)
	}
	var s string
	if err := json.Unmarshal(r[1], &s); err != nil {
		return Point{}, errorf("sample value %s: expected a string", r[1])
	}
	v, err := parseValue(s)
	if err != nil {
		return Point{}, err
	}
	sec, frac := math.Modf(ts)
	return Point{Time: time.Unix(int64(sec), int64(math.Round(frac*1e3))*1e6).UTC(), Value: v}, nil
}

// parseValue reads a sample value, including Prometheus's spellings of
// NaN and the infinities.
func parseValue(s string) (float64, error) {
	switch s {
	case "NaN":
		return math.NaN(), nil
	case "+Inf", "Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, errorf("sample value %q is not a number", s)
	}
	return v, nil
}
