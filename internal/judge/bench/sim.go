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
	// RateWindow, when set, makes the judged series what a Prometheus
	// query such as rate(sum[1m]) / rate(count[1m]) returns: each host's
	// requests update two counters, scraped every Scrape, and each sample
	// is the mean latency of the requests between the first and last
	// scrape within the window before it, so consecutive samples share
	// most of their requests. The AR(1) noise is then the slow drift of
	// each host's latency from one scrape to the next.
	RateWindow time.Duration
	// Requests is each host's request rate per second (RateWindow only).
	Requests float64
	// HideWindow declares the metric without its window, as a judge
	// that cannot read the query's range sees it.
	HideWindow bool
}

// Defaults of the rate-window fleet: Prometheus scraping every 5s, 1m rate
// windows, the canary section's default 10m baseline.
const (
	DefaultRateWindow = time.Minute
	DefaultRateScrape = 5 * time.Second
	DefaultRequests   = 20.0 // requests per second per host
	DefaultRequestSD  = 0.6  // spread of single requests' latencies, log scale
	DefaultRatePhi    = 0.9  // AR(1) of the hosts' latency drift per 5s scrape
	DefaultRateNoise  = 0.02 // its marginal standard deviation, log scale
)

// LabConfig is a fleet like the canary lab test's: one patched host and
// its one control, 30s rate windows read every 5s, a baseline of 110s (22
// samples, 3.7 windows), a margin of 10% and a bake of six minutes.
func LabConfig(runs int, seed uint64) Config {
	return Config{Runs: runs, Seed: seed, Patched: 1, Control: 1, Scrape: DefaultRateScrape, RateWindow: 30 * time.Second,
		Baseline: 110 * time.Second, Bake: 6 * time.Minute, Phi: DefaultRatePhi, Noise: DefaultRateNoise, Margin: 0.10}
}

// LabScenarios are the ones of the lab-like table.
func LabScenarios() []Scenario {
	return []Scenario{
		{Name: "lab A/A", Effect: 1},
		{Name: "lab 3x latency", Effect: 3, Limit: 2 * time.Minute},
		{Name: "lab +50% latency", Effect: 1.5, Limit: 6 * time.Minute},
	}
}

// RateConfig is the rate-window fleet of RateScenarios.
func RateConfig(runs int, seed uint64) Config {
	return Config{Runs: runs, Seed: seed, Scrape: DefaultRateScrape, RateWindow: DefaultRateWindow,
		Baseline: 10 * time.Minute, Bake: 20 * time.Minute, Phi: DefaultRatePhi, Noise: DefaultRateNoise}
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
	if c.RateWindow > 0 {
		def(&c.Requests, DefaultRequests)
	}
	return c
}

// Describe is the one-line description of the simulated fleet.
func (c Config) Describe() string {
	c = c.withDefaults()
	if c.RateWindow > 0 {
		hidden := ""
		if c.HideWindow {
			hidden = " (window not declared to the judge)"
		}
		return fmt.Sprintf("%d patched + %d control hosts, mean latency as rate(sum[%s])/rate(count[%s]) of %.0f req/s per host at %s steps%s, %s baseline, %s bake; per-request latency sd=%.0f%%, host drift AR(1) phi=%.2f sd=%.0f%% per scrape, host offsets sd=%.0f%%, daily cycle +-%.0f%%, missing scrapes %.0f%%; margin +%.0f%%; seed %d",
			c.Patched, c.Control, fmtDur(c.RateWindow), fmtDur(c.RateWindow), c.Requests, c.Scrape, hidden, c.Baseline, c.Bake,
			100*DefaultRequestSD, c.Phi, 100*c.Noise, 100*c.HostOffset, 100*c.Diurnal, 100*c.MissingRate, 100*c.Margin, c.Seed)
	}
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

// RateScenarios are the ones of the rate-window table.
func RateScenarios() []Scenario {
	return []Scenario{
		{Name: "A/A 1m rate at 5s", Effect: 1},
		{Name: "A/B +20% 1m rate at 5s", Effect: 1.2, Limit: 10 * time.Minute},
		{Name: "A/B +50% 1m rate at 5s", Effect: 1.5, Limit: 5 * time.Minute},
		{Name: "drift +30% 1m rate at 5s", Effect: 1, Drift: 0.3},
	}
}

// metric is the metric of the harness as the judges see it.
func (c Config) metric() judge.Metric {
	m := LatencyMetric(c.Margin)
	if !c.HideWindow {
		m.Window = c.RateWindow
	}
	return m
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
	if c.RateWindow > 0 {
		return simulateRates(c, sc, rng)
	}
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

// simulateRates returns the series of one run of the rate-window fleet and
// the patch time. Each host's requests over a scrape interval are Poisson,
// their latencies lognormal around the host's level (offset, daily cycle,
// AR(1) drift, the patch's effect and the fleet's drift); the counters of
// their number and their total latency are scraped at the end of the
// interval (a missed scrape leaves a gap). The sample at a step t is
// Prometheus's rate(sum[w]) / rate(count[w]) at t: of the scrapes in
// (t-w, t], the increase of the sum over the increase of the count (the
// extrapolation of rate() is the same for both and cancels).
func simulateRates(c Config, sc Scenario, rng *rand.Rand) ([]judge.Series, time.Time) {
	start := epoch.Add(time.Duration(rng.Float64() * float64(24*time.Hour))).Truncate(c.Scrape)
	// The history begins a window before the first baseline step, so
	// that every baseline sample has a full window.
	first := start.Add(-c.Baseline - c.RateWindow)
	steps := int((c.Baseline + c.RateWindow + c.Bake) / c.Scrape)
	innov := c.Noise * math.Sqrt(1-c.Phi*c.Phi)
	perScrape := c.Requests * c.Scrape.Seconds()
	spread := math.Exp(DefaultRequestSD * DefaultRequestSD)
	type scrape struct {
		t          time.Time
		sum, count float64
	}
	var out []judge.Series
	for h := range c.Patched + c.Control {
		s := judge.Series{Metric: "latency_p99", Host: fmt.Sprintf("host%02d", h), Group: judge.Control}
		if h < c.Patched {
			s.Group = judge.Patched
		}
		offset := rng.NormFloat64() * c.HostOffset
		x := rng.NormFloat64() * c.Noise
		var sum, count float64
		var scrapes []scrape
		for k := 1; k <= steps; k++ {
			x = c.Phi*x + innov*rng.NormFloat64()
			// The scrape at t counts the requests of (t-Scrape, t].
			t := first.Add(time.Duration(k) * c.Scrape)
			mid := t.Add(-c.Scrape / 2)
			day := 2 * math.Pi * float64(mid.Sub(epoch)) / float64(24*time.Hour)
			logv := math.Log(DefaultLevel) + offset + c.Diurnal*math.Sin(day) + x
			if mid.After(start) {
				logv += math.Log1p(sc.Drift * float64(mid.Sub(start)) / float64(c.Bake))
				if s.Group == judge.Patched {
					logv += math.Log(sc.Effect)
				}
			}
			// Requests of the interval: Poisson, by its normal
			// approximation at these rates; their total latency by the
			// central limit theorem over lognormal requests whose median
			// is the level.
			n := math.Max(0, math.Round(perScrape+math.Sqrt(perScrape)*rng.NormFloat64()))
			mean := math.Exp(logv) * math.Sqrt(spread)
			sd := mean * math.Sqrt(spread-1)
			count += n
			sum += math.Max(0, n*mean+math.Sqrt(n)*sd*rng.NormFloat64())
			if rng.Float64() < c.MissingRate {
				continue
			}
			scrapes = append(scrapes, scrape{t, sum, count})
		}
		// Prometheus evaluates the query at every step; the scrapes land a
		// second before the steps.
		lo := 0
		for k := 1; k <= steps; k++ {
			at := first.Add(time.Duration(k)*c.Scrape + time.Second)
			if !at.After(first.Add(c.RateWindow)) {
				continue
			}
			for lo < len(scrapes) && !scrapes[lo].t.After(at.Add(-c.RateWindow)) {
				lo++
			}
			hi := lo
			for hi+1 < len(scrapes) && !scrapes[hi+1].t.After(at) {
				hi++
			}
			if hi >= len(scrapes) || hi-lo < 1 || scrapes[hi].count <= scrapes[lo].count {
				continue // fewer than two scrapes in the window: no sample
			}
			p := judge.Sample{Time: at, Value: (scrapes[hi].sum - scrapes[lo].sum) / (scrapes[hi].count - scrapes[lo].count)}
			if at.After(start) {
				s.Current = append(s.Current, p)
			} else {
				s.Baseline = append(s.Baseline, p)
			}
		}
		out = append(out, s)
	}
	return out, start
}
