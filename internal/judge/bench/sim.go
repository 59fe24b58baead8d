// Package bench is the evaluation harness of the canary judges: it
// simulates metric series of patched and control hosts with the features
// that break naive judges (AR(1) noise, drift common to the fleet, host
// offsets, outliers, missing scrapes), runs each judge at every scrape of
// the bake, and tabulates false alarms and detection times. The judgebench
// command prints its table; its tests assert the bounds.
package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/patchpilot/patchpilot/internal/judge"
)

// Defaults of Config: the simulated fleet and its noise.
const (
	DefaultPatched     = 5
	DefaultControl     = 5
	DefaultScrape      = 15 * time.Second
	DefaultBaseline    = 30 * time.Minute
	DefaultBake        = 30 * time.Minute
	DefaultPhi         = 0.8
	DefaultNoise       = 0.05  // marginal standard deviation of the AR(1) noise, log scale (about 5%)
	DefaultHostOffset  = 0.05  // standard deviation of the fixed host offsets, log scale
	DefaultDiurnal     = 0.20  // amplitude of the daily cycle shared by all hosts, log scale
	DefaultOutlierRate = 0.005 // share of scrapes that are spikes
	DefaultMissingRate = 0.02  // share of scrapes that are lost
	DefaultMargin      = 0.05  // the latency metric's relative margin
	DefaultLevel       = 0.2   // latency level in seconds
)

// Config describes the simulated fleet. Zero fields take the defaults.
type Config struct {
	Runs        int
	Seed        uint64
	Workers     int
	Patched     int
	Control     int
	Scrape      time.Duration
	Baseline    time.Duration
	Bake        time.Duration
	Phi         float64
	Noise       float64
	HostOffset  float64
	Diurnal     float64
	OutlierRate float64
	MissingRate float64
	Margin      float64
}

func (c Config) withDefaults() Config {
	def := func(p *float64, v float64) {
		if *p == 0 {
			*p = v
		}
	}
	if c.Runs == 0 {
		c.Runs = 500
	}
	if c.Workers == 0 {
		c.Workers = 2
	}
	if c.Patched == 0 {
		c.Patched = DefaultPatched
	}
	if c.Control == 0 {
		c.Control = DefaultControl
	}
	if c.Scrape == 0 {
		c.Scrape = DefaultScrape
	}
	if c.Baseline == 0 {
		c.Baseline = DefaultBaseline
	}
	if c.Bake == 0 {
		c.Bake = DefaultBake
	}
	def(&c.Phi, DefaultPhi)
	def(&c.Noise, DefaultNoise)
	def(&c.HostOffset, DefaultHostOffset)
	def(&c.Diurnal, DefaultDiurnal)
	def(&c.OutlierRate, DefaultOutlierRate)
	def(&c.MissingRate, DefaultMissingRate)
	def(&c.Margin, DefaultMargin)
	return c
}

// Describe is the one-line description of the simulated fleet.
func (c Config) Describe() string {
	c = c.withDefaults()
	return fmt.Sprintf("%d patched + %d control hosts, %s scrapes, %s baseline, %s bake; latency noise AR(1) phi=%.2f sd=%.0f%%, host offsets sd=%.0f%%, daily cycle +-%.0f%%, outliers %.1f%%, missing scrapes %.0f%%; margin +%.0f%%; seed %d",
		c.Patched, c.Control, c.Scrape, c.Baseline, c.Bake, c.Phi, 100*c.Noise, 100*c.HostOffset,
		100*c.Diurnal, 100*c.OutlierRate, 100*c.MissingRate, 100*c.Margin, c.Seed)
}

// Scenario is what the patch and the fleet do during the bake.
type Scenario struct {
	Name string
	// Effect multiplies the patched hosts' latency from the patch on (1 = A/A).
	Effect float64
	// Drift multiplies every host's latency by up to 1+Drift, rising
	// linearly over the bake (load rising fleet-wide).
	Drift float64
	// Limit is the time within which a real effect must be detected.
	Limit time.Duration
}

// Scenarios are the ones the table reports.
func Scenarios() []Scenario {
	return []Scenario{
		{Name: "A/A phi=0.8", Effect: 1},
		{Name: "A/B +20% latency", Effect: 1.2, Limit: 10 * time.Minute},
		{Name: "A/B 3x latency", Effect: 3, Limit: 2 * time.Minute},
		{Name: "fleet drift +30%", Effect: 1, Drift: 0.3},
	}
}

// LatencyMetric is the metric the harness judges.
func LatencyMetric(margin float64) judge.Metric {
	return judge.Metric{Name: "latency_p99", Direction: judge.HigherIsWorse, Margin: margin,
		Unit: judge.Relative, Kind: judge.Continuous, Critical: true}
}

// epoch anchors simulated time; a run's daily phase is random.
var epoch = time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)

// simulate returns the series of one run and the patch time.
func simulate(c Config, sc Scenario, rng *rand.Rand) ([]judge.Series, time.Time) {
	start := epoch.Add(time.Duration(rng.Float64() * float64(24*time.Hour))).Truncate(c.Scrape)
	first := start.Add(-c.Baseline)
	steps := int((c.Baseline + c.Bake) / c.Scrape)
	innov := c.Noise * math.Sqrt(1-c.Phi*c.Phi)
	var out []judge.Series
	for h := range c.Patched + c.Control {
		s := judge.Series{Metric: "latency_p99", Host: fmt.Sprintf("host%02d", h), Group: judge.Control}
		if h < c.Patched {
			s.Group = judge.Patched
		}
		offset := rng.NormFloat64() * c.HostOffset
		x := rng.NormFloat64() * c.Noise // stationary start
		for k := 1; k <= steps; k++ {
			x = c.Phi*x + innov*rng.NormFloat64()
			t := first.Add(time.Duration(k) * c.Scrape)
			day := 2 * math.Pi * float64(t.Sub(epoch)) / float64(24*time.Hour)
			logv := math.Log(DefaultLevel) + offset + c.Diurnal*math.Sin(day) + x
			if t.After(start) {
				frac := float64(t.Sub(start)) / float64(c.Bake)
				logv += math.Log1p(sc.Drift * frac)
				if s.Group == judge.Patched {
					logv += math.Log(sc.Effect)
				}
			}
			v := math.Exp(logv)
			if rng.Float64() < c.OutlierRate {
				v *= 2 + 3*rng.Float64()
			}
			if rng.Float64() < c.MissingRate {
				continue
			}
			p := judge.Sample{Time: t, Value: v}
			if t.After(start) {
				s.Current = append(s.Current, p)
			} else {
				s.Baseline = append(s.Baseline, p)
			}
		}
		out = append(out, s)
	}
	return out, start
}
