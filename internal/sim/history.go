package sim

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/risk"
)

// HistoryConfig describes a generated history. Zero fields take the
// defaults below.
type HistoryConfig struct {
	Seed    uint64
	Hosts   int           // fleet size; DefaultHosts
	Patches int           // number of package updates rolled out; DefaultPatches
	Start   time.Time     // time of the first patch; DefaultStart
	Every   time.Duration // time between patches; DefaultEvery
}

// History defaults: two years of patching a 60-host fleet, a patch every
// day and a half.
const (
	DefaultHosts   = 60
	DefaultPatches = 500
	DefaultEvery   = 36 * time.Hour
)

// DefaultStart is the time of the first generated patch.
func DefaultStart() time.Time { return time.Date(2023, 1, 2, 9, 0, 0, 0, time.UTC) }

func (c HistoryConfig) withDefaults() HistoryConfig {
	if c.Hosts <= 0 {
		c.Hosts = DefaultHosts
	}
	if c.Patches <= 0 {
		c.Patches = DefaultPatches
	}
	if c.Start.IsZero() {
		c.Start = DefaultStart()
	}
	if c.Every <= 0 {
		c.Every = DefaultEvery
	}
	return c
}

type simHost struct {
	name, role, os string
	effect         float64
}

type pkgState struct {
	major, minor, patch, rev int
}

func (s pkgState) String() string {
	return fmt.Sprintf("%d.%d.%d-%d", s.major, s.minor, s.patch, s.rev)
}

// Record is a generated record with the hidden probability it was drawn
// with, so tests can compare the model with the truth.
type Record struct {
	risk.Record
	TrueP float64
}

// GenerateHistory returns a fleet history drawn from the hidden risk
// function, in time order.
func GenerateHistory(cfg HistoryConfig) []Record {
	cfg = cfg.withDefaults()
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	hosts := make([]simHost, cfg.Hosts)
	rs := roles()
	for i := range hosts {
		os := "debian:12"
		if i%3 == 2 {
			os = "ubuntu:22.04"
		}
		hosts[i] = simHost{name: fmt.Sprintf("%s-%02d", rs[i%len(rs)], i/len(rs)+1), role: rs[i%len(rs)],
			os: os, effect: rng.NormFloat64() * hiddenHostSD}
	}
	cat := catalog()
	total := 0
	states := make([]pkgState, len(cat))
	for i := range cat {
		cat[i].effect = cat[i].baseEffect + rng.NormFloat64()*hiddenPackageSD
		total += cat[i].weight
		states[i] = pkgState{major: 1 + rng.IntN(3), minor: rng.IntN(10), patch: rng.IntN(10), rev: 1}
	}
	var out []Record
	for n := 0; n < cfg.Patches; n++ {
		k := pick(rng, cat, total)
		pkg := cat[k]
		from := states[k]
		to, jump := bump(rng, from)
		states[k] = to
		newUpstream := jump != risk.JumpRevision
		patchEffect := rng.NormFloat64() * hiddenPatchSD
		cves := cveList(rng, n)
		severity := severities()[rng.IntN(len(severities()))]
		removes := rng.Float64() < removalShare
		start := cfg.Start.Add(time.Duration(n) * cfg.Every)
		order := rng.Perm(len(hosts))
		step := 0
		for _, hi := range order {
			h := hosts[hi]
			if !pkg.installedOn(h.role) {
				continue
			}
			p := sigmoid(hiddenLogOdds(pkg, h.role, jump, newUpstream, removes, pkg.reboot, patchEffect, h.effect))
			kind, reason := patchpilot.OutcomeSucceeded, ""
			if rng.Float64() < p {
				kind, reason = patchpilot.OutcomeRolledBack, "health gate failed: services_running"
				if rng.Float64() < 0.4 {
					kind, reason = patchpilot.OutcomeFailed, "apply failed: post-installation script returned error"
				}
			}
			rec := risk.Record{
				Time: start.Add(time.Duration(step) * 10 * time.Minute), Host: h.name, OS: h.os,
				Labels:  map[string]string{patchpilot.LabelRole: h.role, patchpilot.LabelEnv: "prod"},
				Package: pkg.name, SourcePackage: pkg.source, FromVersion: from.String(), ToVersion: to.String(),
				CVEs: cves, Severity: severity, RebootRequired: pkg.reboot, Outcome: kind, Reason: reason,
				Rollout: "r-" + strconv.Itoa(n+1), TransactionSize: 1 + rng.IntN(4),
			}
			if removes {
				rec.Removals = []string{"old-" + pkg.name}
				rec.TransactionSize++
			}
			out = append(out, Record{Record: rec, TrueP: p})
			step++
		}
	}
	return out
}

// removalShare is the share of patches whose transaction removes packages.
const removalShare = 0.05

func severities() []string { return []string{"low", "medium", "medium", "high", "high", "critical"} }

func pick(rng *rand.Rand, cat []catalogPackage, total int) int {
	x := rng.IntN(total)
	for i, p := range cat {
		if x < p.weight {
			return i
		}
		x -= p.weight
	}
	return len(cat) - 1
}

// bump draws the next version: mostly a backported fix (a new revision),
// sometimes a new upstream patch, minor or major release.
func bump(rng *rand.Rand, s pkgState) (pkgState, int) {
	x := rng.Float64()
	switch {
	case x < 0.65:
		s.rev++
		return s, risk.JumpRevision
	case x < 0.85:
		s.patch++
		s.rev = 1
		return s, risk.JumpPatch
	case x < 0.96:
		s.minor++
		s.patch, s.rev = 0, 1
		return s, risk.JumpMinor
	}
	s.major++
	s.minor, s.patch, s.rev = 0, 0, 1
	return s, risk.JumpMajor
}

func cveList(rng *rand.Rand, n int) []string {
	k := rng.IntN(4)
	out := make([]string, k)
	for i := range out {
		out[i] = fmt.Sprintf("CVE-2024-%d", 10000+n*10+i)
	}
	return out
}

// Records strips the hidden probabilities.
func Records(in []Record) []risk.Record {
	out := make([]risk.Record, len(in))
	for i, r := range in {
		out[i] = r.Record
	}
	return out
}
