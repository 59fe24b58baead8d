package seed

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/canary"
	"github.com/patchpilot/patchpilot/internal/judge"
	"github.com/patchpilot/patchpilot/internal/planner"
)

// people approve, pause and abort rollouts.
var people = []string{"user:alice", "user:bob", "user:carol", "user:dave"}

// hostSim is one host's pipeline in a simulated rollout.
type hostSim struct {
	h                        *host
	stage, pos, order        int
	state                    patchpilot.HostState
	reason                   string
	start, applied, finished time.Time
	reboot                   bool
	checks                   int  // gate checks during the bake
	unhealthy                bool // the last check failed
	rolledBack               bool
}

// stageSim is one stage of a simulated rollout.
type stageSim struct {
	name           string
	hosts          []int // indexes into rolloutSim.hosts
	state          patchpilot.StageState
	reason         string
	start, finish  time.Time // zero when not reached
	approvedBy     string
	approvedAt     time.Time
	bake           time.Duration
	parallel       int
	canary         bool
	approval       bool
	waitsApproval  bool
	requestedPause bool
}

// rolloutSim is one rollout: its plan and what happened in it, decided
// before anything is stored so that its events can be counted and then
// written in time order with the rest of the log.
type rolloutSim struct {
	id       string
	seq      int
	created  time.Time
	end      time.Time // the last thing that happened
	distro   *distro
	env      string
	pkgs     []int
	source   string
	plan     patchpilot.Plan
	stages   []*stageSim
	hosts    []*hostSim
	state    patchpilot.RolloutState
	reason   string
	by       string
	incident *incidentSim
	abortAt  time.Time
}

type incidentSim struct {
	at    time.Time
	stage string
	hosts []int
}

// simulateRollout decides the i-th of n rollouts, created at created.
// Rollouts near the end (live) are still running, waiting or paused.
func simulateRollout(rng *rand.Rand, i int, created time.Time, live bool, byDistroEnv map[string][]*host, ds []*distro) (*rolloutSim, error) {
	r := &rolloutSim{seq: i, created: created, by: people[rng.IntN(len(people))]}
	r.id = fmt.Sprintf("r-%s-%04x", created.UTC().Format("20060102-150405"), i)
	// Pick a distribution and environment that has hosts.
	for range 50 {
		r.distro = ds[rng.IntN(len(ds))]
		r.env = []string{"prod", "prod", "staging", "dev"}[rng.IntN(4)]
		if len(byDistroEnv[r.distro.name+"/"+r.env]) >= 3 {
			break
		}
	}
	pool := byDistroEnv[r.distro.name+"/"+r.env]
	if len(pool) == 0 {
		return nil, fmt.Errorf("rollout %d: no host of %s in %s", i, r.distro.name, r.env)
	}
	// Patch one to three packages that have fixes.
	var fixable []int
	for k, p := range r.distro.packages {
		if len(p.advisories) > 0 {
			fixable = append(fixable, k)
		}
	}
	for _, k := range rng.Perm(len(fixable))[:1+rng.IntN(min(3, len(fixable)))] {
		r.pkgs = append(r.pkgs, fixable[k])
	}
	n := min(len(pool), 10+rng.IntN(111))
	picked := rng.Perm(len(pool))[:n]
	canaryN := max(1, min(5, n/20))
	waveN := max(1, (n-canaryN)/5)
	sizes := []int{canaryN, waveN, n - canaryN - waveN}
	prod := r.env == "prod"
	r.stages = []*stageSim{
		{name: "canary", bake: time.Hour, parallel: 1, canary: true},
		{name: "wave_1", bake: 30 * time.Minute, parallel: 5},
		{name: "final", bake: 10 * time.Minute, parallel: 20, approval: prod},
	}
	next := 0
	for si, size := range sizes {
		for pos := range size {
			r.stages[si].hosts = append(r.stages[si].hosts, len(r.hosts))
			r.hosts = append(r.hosts, &hostSim{h: pool[picked[next]], stage: si, pos: pos, state: patchpilot.HostPending})
			next++
		}
	}
	if len(r.stages[2].hosts) == 0 {
		r.stages = r.stages[:2]
	}
	var pins []string
	for _, k := range r.pkgs {
		p := r.distro.packages[k]
		pins = append(pins, fmt.Sprintf("%q", p.name+"="+p.fixed))
	}
	name := r.distro.packages[r.pkgs[0]].name + "-" + r.distro.name
	var b strings.Builder
	fmt.Fprintf(&b, "rollout:\n  name: %s\n  patch: {packages: [%s]}\n  targets: {selector: \"env=%s\"}\n  stages:\n",
		name, strings.Join(pins, ", "), r.env)
	fmt.Fprintf(&b, "    - {name: canary, targets: %d, criteria: [services_running, cpu_increase<15%%], bake: 1h, on_failure: rollback_and_alert}\n", canaryN)
	fmt.Fprintf(&b, "    - {name: wave_1, targets: %d, parallel: 5, criteria: [services_running, no_failed_units], bake: 30m, max_failures: 1, on_failure: rollback_wave_and_hold}\n", waveN)
	if len(r.stages) == 3 {
		approval := ""
		if prod {
			approval = ", approval: required"
		}
		fmt.Fprintf(&b, "    - {name: final, targets: rest, parallel: 20, criteria: [services_running], bake: 10m%s}\n", approval)
	}
	r.source = b.String()
	plan, err := planner.Parse([]byte(r.source), r.id)
	if err != nil {
		return nil, fmt.Errorf("rollout %d: plan: %w", i, err)
	}
	r.plan = plan
	r.decide(rng, live)
	return r, nil
}

// decide runs the rollout's story: every stage and host, with the failure
// or the live state drawn at random in realistic shares.
func (r *rolloutSim) decide(rng *rand.Rand, live bool) {
	type ending int
	const (
		succeed ending = iota
		rollBack
		halt
		fail
		abort
		running
		waiting
		paused
	)
	end := succeed
	if live {
		end = []ending{running, running, waiting, paused}[rng.IntN(4)]
	} else {
		switch roll := rng.IntN(100); {
		case roll < 5:
			end = rollBack
		case roll < 10:
			end = halt
		case roll < 13:
			end = fail
		case roll < 15:
			end = abort
		}
	}
	if end == waiting && !r.stages[len(r.stages)-1].approval {
		end = running
	}
	reboot := false
	for _, k := range r.pkgs {
		reboot = reboot || r.distro.packages[k].kernel
	}
	t := r.created.Add(time.Duration(1+rng.IntN(5)) * time.Minute)
	order := 0
	r.state = patchpilot.RolloutSucceeded
	for si, s := range r.stages {
		if s.approval {
			if end == waiting {
				s.state, s.waitsApproval = patchpilot.StageWaitingApproval, true
				s.start = t
				r.state, r.end = patchpilot.RolloutWaitingApproval, t
				return
			}
			t = t.Add(time.Duration(10+rng.IntN(8*60)) * time.Minute)
			s.approvedBy, s.approvedAt = people[rng.IntN(len(people))], t
		}
		s.start, s.state = t, patchpilot.StageRunning
		// Where this stage's story turns, if it does.
		failAt := -1
		switch {
		case (end == rollBack || end == fail) && si == 0:
			failAt = 0
		case end == halt && si == 1:
			failAt = rng.IntN(len(s.hosts))
		case (end == abort || end == paused) && si == 1:
			failAt = len(s.hosts) / 2
		case end == running && si == len(r.stages)-1:
			failAt = len(s.hosts) / 2
		}
		last := t
		for pos, hi := range s.hosts {
			h := r.hosts[hi]
			if failAt >= 0 && pos > failAt {
				break
			}
			if (end == abort || end == paused) && pos == failAt {
				break
			}
			start := t.Add(time.Duration(pos/s.parallel) * (s.bake + 8*time.Minute))
			h.start = start
			h.applied = start.Add(2 * time.Minute)
			h.reboot = reboot
			order++
			h.order = order
			step := h.applied.Add(3 * time.Minute)
			if reboot {
				step = step.Add(2 * time.Minute)
			}
			h.checks = max(1, int(s.bake/(10*time.Minute)))
			h.finished = step.Add(s.bake)
			h.state = patchpilot.HostSucceeded
			if pos == failAt {
				switch end {
				case rollBack, halt:
					h.checks = 1 + rng.IntN(h.checks)
					h.unhealthy = true
					h.finished = step.Add(time.Duration(h.checks) * 10 * time.Minute).Add(4 * time.Minute)
					h.state, h.rolledBack = patchpilot.HostRolledBack, true
					h.reason = "unhealthy: cpu_increase<15% breached"
				case fail:
					h.checks = 1
					h.unhealthy = true
					h.finished = step.Add(15 * time.Minute)
					h.state, h.rolledBack = patchpilot.HostRollbackFailed, true
					h.reason = "rollback failed: the package manager could not install the previous version"
				case running:
					h.checks = max(0, h.checks-1-rng.IntN(h.checks))
					h.finished = time.Time{}
					h.state = patchpilot.HostVerify
				}
			} else if end == succeed && si == 1 && rng.IntN(20) == 0 {
				// A host that fails its preflight, within the stage's
				// tolerance.
				h.checks, h.applied = 0, time.Time{}
				h.finished = start.Add(time.Minute)
				h.state, h.reason = patchpilot.HostFailed, "preflight: not enough free space in /var (412 MB, need 500 MB)"
				order--
				h.order = 0
			}
			if !h.finished.IsZero() && h.finished.After(last) {
				last = h.finished
			}
			if h.finished.IsZero() && step.After(last) {
				last = step
			}
		}
		t = last.Add(time.Minute)
		switch {
		case failAt >= 0 && (end == rollBack || end == halt || end == fail):
			// The failed host's stage rolls back its changed hosts.
			inc := &incidentSim{at: t, stage: s.name}
			for _, hi := range s.hosts {
				h := r.hosts[hi]
				if h.state == patchpilot.HostSucceeded {
					h.state, h.rolledBack, h.reason = patchpilot.HostRolledBack, true, "rolled back with the stage"
					h.finished = t.Add(3 * time.Minute)
				}
				if h.rolledBack {
					inc.hosts = append(inc.hosts, hi)
				}
			}
			r.incident = inc
			t = t.Add(5 * time.Minute)
			s.state, s.finish = patchpilot.StageRolledBack, t
			s.reason = "1 host failed"
			if end == fail {
				s.state = patchpilot.StageFailed
				r.state, r.reason = patchpilot.RolloutFailed, "a host could not be rolled back"
			} else if end == halt {
				r.state, r.reason = patchpilot.RolloutHalted, "stage wave_1 failed: rolled back the wave and held for a person"
			} else {
				r.state, r.reason = patchpilot.RolloutRolledBack, "stage canary failed: rolled back"
			}
			for _, later := range r.stages[si+1:] {
				if end != halt {
					later.state = patchpilot.StageSkipped
					for _, hi := range later.hosts {
						r.hosts[hi].state, r.hosts[hi].reason = patchpilot.HostSkipped, "the rollout "+string(r.state)
						r.hosts[hi].finished = t
					}
				} else {
					later.state = patchpilot.StagePending
				}
			}
			r.end = t
			return
		case end == abort && si == 1:
			r.abortAt = t
			s.state, s.finish, s.reason = patchpilot.StageSkipped, t, "aborted"
			for _, later := range r.stages[si:] {
				later.state = patchpilot.StageSkipped
				for _, hi := range later.hosts {
					if r.hosts[hi].state == patchpilot.HostPending {
						r.hosts[hi].state, r.hosts[hi].reason = patchpilot.HostSkipped, "the rollout was aborted"
						r.hosts[hi].finished = t
					}
				}
			}
			r.state, r.reason, r.end = patchpilot.RolloutAborted, "aborted by "+people[0], t
			return
		case end == paused && si == 1:
			s.requestedPause = true
			r.state, r.reason, r.end = patchpilot.RolloutPaused, "paused by "+r.by, t
			return
		case end == running && si == len(r.stages)-1:
			r.state, r.end = patchpilot.RolloutRunning, t
			return
		}
		s.state, s.finish = patchpilot.StageSucceeded, t
	}
	r.end = t
}

// event is one entry of the simulated log, with its payload made only when
// the log is written.
type event struct {
	patchpilot.Event
	data func() any
}

// events is the rollout's part of the event log, in time order within each
// host and stage (the caller sorts the whole log by time).
func (r *rolloutSim) events(rng *rand.Rand) []event {
	var out []event
	add := func(at time.Time, actor, kind, host, msg string, data func() any) {
		out = append(out, event{Event: patchpilot.Event{Time: at, Actor: actor, Kind: kind, Host: host, Rollout: r.id,
			Message: msg}, data: data})
	}
	ctl := "controller"
	add(r.created, r.by, patchpilot.EventRolloutCreated, "", "rollout "+r.id+" created from plan "+r.plan.Name, func() any {
		d := patchpilot.RolloutCreatedData{Plan: r.plan.Name, Notes: []string{}}
		for _, s := range r.stages {
			var names []string
			for _, hi := range s.hosts {
				names = append(names, r.hosts[hi].h.Name)
			}
			d.Stages = append(d.Stages, s.name+": "+strings.Join(names, ","))
		}
		return d
	})
	add(r.created.Add(time.Second), ctl, patchpilot.EventLease, "", "lease acquired by controller@seed", nil)
	add(r.created.Add(2*time.Second), ctl, patchpilot.EventRolloutState, "", "rollout running", nil)
	for _, s := range r.stages {
		if s.start.IsZero() {
			continue
		}
		if s.waitsApproval {
			add(s.start, ctl, patchpilot.EventStageState, "", "stage "+s.name+" waiting_approval", nil)
			continue
		}
		if s.approvedBy != "" {
			stage, by := s.name, s.approvedBy
			add(s.approvedAt, by, patchpilot.EventApproval, "", "stage "+stage+" approved by "+by, func() any {
				return patchpilot.ApprovalData{Stage: stage, Approver: by, Approvers: []string{by}, Required: 1}
			})
		}
		add(s.start, ctl, patchpilot.EventStageState, "", "stage "+s.name+" running", nil)
		for _, hi := range s.hosts {
			h := r.hosts[hi]
			if h.start.IsZero() {
				continue
			}
			name := h.h.Name
			hostEvent := func(at time.Time, state patchpilot.HostState, reason string) {
				msg := name + " " + string(state)
				if reason != "" {
					msg += ": " + reason
				}
				add(at, ctl, patchpilot.EventHostState, name, msg, nil)
			}
			hostEvent(h.start, patchpilot.HostPreflight, "")
			if h.state == patchpilot.HostFailed {
				hostEvent(h.finished, patchpilot.HostFailed, h.reason)
				continue
			}
			hostEvent(h.start.Add(time.Minute), patchpilot.HostSnapshot, "")
			hostEvent(h.applied, patchpilot.HostApply, "")
			verify := h.applied.Add(3 * time.Minute)
			if h.reboot {
				hostEvent(verify, patchpilot.HostReboot, "")
				verify = verify.Add(2 * time.Minute)
			}
			hostEvent(verify, patchpilot.HostVerify, "")
			for c := range h.checks {
				at := verify.Add(time.Duration(c+1) * 10 * time.Minute)
				bad := h.unhealthy && c == h.checks-1
				seed := rng.Uint64()
				rep := r.report(h, s, at, bad, seed)
				msg := fmt.Sprintf("%s gates %s", name, rep.Verdict)
				if rep.Reason != "" {
					msg += ": " + rep.Reason
				}
				add(at, ctl, patchpilot.EventGateVerdict, name, msg, func() any { return rep })
			}
			switch {
			case h.state == patchpilot.HostSucceeded:
				hostEvent(h.finished, patchpilot.HostSucceeded, "")
			case h.rolledBack:
				hostEvent(h.finished.Add(-2*time.Minute), patchpilot.HostRollingBack, h.reason)
				hostEvent(h.finished, h.state, h.reason)
			}
		}
		if !s.finish.IsZero() {
			msg := "stage " + s.name + " " + string(s.state)
			if s.reason != "" {
				msg += ": " + s.reason
			}
			add(s.finish, ctl, patchpilot.EventStageState, "", msg, nil)
		}
		if s.requestedPause {
			add(r.end, r.by, patchpilot.EventRequest, "", "pause requested by "+r.by, nil)
		}
	}
	if inc := r.incident; inc != nil {
		data := r.incidentData(inc)
		add(inc.at, ctl, patchpilot.EventIncident, "", "incident in stage "+inc.stage+": 1 host failed",
			func() any { return data })
	}
	if !r.abortAt.IsZero() {
		add(r.abortAt.Add(-time.Minute), people[0], patchpilot.EventRequest, "", "abort requested by "+people[0], nil)
	}
	if r.state != patchpilot.RolloutRunning && r.state != patchpilot.RolloutWaitingApproval {
		msg := "rollout " + string(r.state)
		if r.reason != "" {
			msg += ": " + r.reason
		}
		add(r.end, ctl, patchpilot.EventRolloutState, "", msg, nil)
	}
	return out
}

// report is one gate check of a host: the stage's criteria and, in the
// canary stage, the canary judge's verdict with its evidence.
func (r *rolloutSim) report(h *hostSim, s *stageSim, at time.Time, bad bool, seed uint64) patchpilot.HealthReport {
	rng := rand.New(rand.NewPCG(seed, uint64(r.seq)))
	f := func(v float64) *float64 { return &v }
	cpu := 2 + rng.Float64()*8
	if bad {
		cpu = 18 + rng.Float64()*20
	}
	res := []patchpilot.GateResult{
		{Gate: "services_running", Outcome: patchpilot.GatePass, Reason: "all 6 services that ran before still run", Time: at},
		{Gate: "cpu_increase<15%", Outcome: patchpilot.GatePass, Reason: fmt.Sprintf("cpu %.1f%% over the baseline", cpu),
			Value: f(cpu), Baseline: f(20 + rng.Float64()*30), Threshold: f(15), Time: at},
	}
	rep := patchpilot.HealthReport{Verdict: patchpilot.Healthy, Results: res}
	if bad {
		res[1].Outcome = patchpilot.GateCritical
		rep.Verdict, rep.Reason = patchpilot.Unhealthy, "cpu_increase<15% breached"
	}
	if !s.canary {
		if s.name == "wave_1" {
			rep.Results[1] = patchpilot.GateResult{Gate: "no_failed_units", Outcome: patchpilot.GatePass, Reason: "no unit failed", Time: at}
		}
		return rep
	}
	// The canary judge compares the canaries with control hosts of the
	// same stratum: its evidence holds each host's means and the series.
	outcome := judge.Inconclusive
	if bad {
		outcome = judge.Fail
	}
	start := h.applied
	est := 0.01 + rng.NormFloat64()*0.02
	if bad {
		est = 0.2 + rng.Float64()*0.1
	}
	hw := 0.05 + rng.Float64()*0.05
	v := judge.Verdict{Metric: "latency_p99", Outcome: outcome, Reason: fmt.Sprintf("the interval [%.3f, %.3f] straddles the margin 0.10", est-hw, est+hw),
		Critical: true, Estimate: judge.Number(est), Lower: judge.Number(est - hw), Upper: judge.Number(est + hw), Margin: 0.1,
		Unit: judge.Relative, Statistic: judge.Number(est / hw * 1.96), Looks: 1 + int(at.Sub(start)/(10*time.Minute)),
		Evidence: judge.Evidence{Method: "did-cs", Phi: judge.Number(0.2 + rng.Float64()*0.3), Information: judge.Number(800 + rng.Float64()*400),
			Rho: 0.5, AlphaCurrent: 0.025, AlphaBaseline: 0.025, HalfWidthCurrent: judge.Number(hw * 0.7), HalfWidthBaseline: judge.Number(hw * 0.3)}}
	if bad {
		v.Reason = fmt.Sprintf("the interval [%.3f, %.3f] is beyond the margin 0.10", est-hw, est+hw)
	}
	stratum := h.h.Labels[patchpilot.LabelRole] + "/" + r.distro.name + r.distro.version
	series := func(host string, group judge.Role, shift float64) judge.Series {
		sr := judge.Series{Metric: "latency_p99", Host: host, Group: group, Stratum: stratum}
		level := 0.08 + rng.Float64()*0.04
		for k := range 30 {
			sr.Baseline = append(sr.Baseline, judge.Sample{Time: start.Add(time.Duration(k-30) * time.Minute), Value: level * (1 + rng.NormFloat64()*0.05)})
		}
		for k := range int(at.Sub(start) / time.Minute) {
			sr.Current = append(sr.Current, judge.Sample{Time: start.Add(time.Duration(k) * time.Minute), Value: level * (1 + shift + rng.NormFloat64()*0.05)})
		}
		return sr
	}
	v.Evidence.Series = append(v.Evidence.Series, series(h.h.Name, judge.Patched, est))
	for c := range 2 {
		name := fmt.Sprintf("%s-control-%d", strings.SplitN(h.h.Name, "-", 2)[0], c+1)
		v.Evidence.Series = append(v.Evidence.Series, series(name, judge.Control, 0))
	}
	for _, sr := range v.Evidence.Series {
		mean := func(ss []judge.Sample) float64 {
			t := 0.0
			for _, x := range ss {
				t += math.Log(x.Value)
			}
			return t / float64(max(1, len(ss)))
		}
		v.Evidence.Hosts = append(v.Evidence.Hosts, judge.HostSummary{Host: sr.Host, Group: sr.Group, Stratum: sr.Stratum,
			BaselineMean: judge.Number(mean(sr.Baseline)), CurrentMean: judge.Number(mean(sr.Current)),
			BaselineN: len(sr.Baseline), CurrentN: len(sr.Current), Variance: 0.0025, LongRunVar: 0.004, Weight: 0.5})
	}
	cr := canary.Report(judge.Result{Judge: "sequential", Outcome: outcome, Reason: v.Reason, Time: at, Verdicts: []judge.Verdict{v}})
	rep.Results = append(rep.Results, cr.Results...)
	if bad {
		rep.Reason += "; " + cr.Reason
	}
	return rep
}

// incidentData is the payload of the rollout's incident.
func (r *rolloutSim) incidentData(inc *incidentSim) patchpilot.IncidentData {
	var d patchpilot.IncidentData
	for _, hi := range inc.hosts {
		h := r.hosts[hi]
		if h.unhealthy {
			d.Hosts = append(d.Hosts, patchpilot.IncidentHost{Host: h.h.Name, Stage: inc.stage, State: h.state, Reason: h.reason})
		}
		d.RolledBack = append(d.RolledBack, h.h.Name)
	}
	return d
}

// store writes the rollout, its stages, host pipelines, incident and
// outcomes through the store's methods.
func (r *rolloutSim) rollout() patchpilot.Rollout {
	ro := patchpilot.Rollout{ID: r.id, Plan: r.plan, PlanSource: r.source, State: patchpilot.RolloutPending,
		CreatedBy: r.by, CreatedAt: r.created, UpdatedAt: r.created}
	for i, s := range r.stages {
		sr := patchpilot.StageRun{Index: i, Name: s.name}
		for _, hi := range s.hosts {
			sr.Hosts = append(sr.Hosts, r.hosts[hi].h.Name)
		}
		ro.Stages = append(ro.Stages, sr)
	}
	return ro
}

// stageRun is the stage as stored at the end of the story.
func (r *rolloutSim) stageRun(i int) patchpilot.StageRun {
	s := r.stages[i]
	sr := patchpilot.StageRun{Rollout: r.id, Index: i, Name: s.name, State: s.state, Reason: s.reason, ApprovedBy: s.approvedBy}
	if sr.State == "" {
		sr.State = patchpilot.StagePending
	}
	if !s.approvedAt.IsZero() {
		sr.ApprovedAt = ptr(s.approvedAt)
	}
	if !s.start.IsZero() && !s.waitsApproval {
		sr.StartedAt = ptr(s.start)
	}
	if !s.finish.IsZero() {
		sr.FinishedAt = ptr(s.finish)
	}
	return sr
}

// hostRun is the host's pipeline as stored at the end of the story; ok is
// false for a host still pending, which CreateRollout stored already.
func (r *rolloutSim) hostRun(h *hostSim, rng *rand.Rand) (patchpilot.HostRun, bool) {
	if h.state == patchpilot.HostPending {
		return patchpilot.HostRun{}, false
	}
	hr := patchpilot.HostRun{Rollout: r.id, Stage: r.stages[h.stage].name, Host: h.h.Name, State: h.state,
		Order: h.order, Reason: h.reason, FromVersions: map[string]string{}, ToVersions: map[string]string{}}
	if h.state == patchpilot.HostSkipped {
		hr.FinishedAt = ptr(h.finished)
		return hr, true
	}
	for _, k := range r.pkgs {
		p := r.distro.packages[k]
		hr.FromVersions[p.name], hr.ToVersions[p.name] = p.old, p.fixed
	}
	hr.StartedAt = ptr(h.start)
	if !h.finished.IsZero() {
		hr.FinishedAt = ptr(h.finished)
	}
	if !h.applied.IsZero() {
		hr.AppliedAt = ptr(h.applied)
		hr.BootIDBefore = h.h.bootID
		hr.BootIDAfter = h.h.bootID
		if h.reboot {
			hr.BootIDAfter = fmt.Sprintf("%08x-0000-4000-8000-%012x", rng.Uint32(), rng.Int64N(1<<48))
		}
		hr.Artifacts = map[string]string{}
		for _, k := range r.pkgs {
			p := r.distro.packages[k]
			hr.Artifacts[p.name] = fmt.Sprintf("/var/cache/patchpilot/%s/%s_%s.pkg", r.id, p.name, p.old)
		}
		hr.Baseline = patchpilot.HealthBaseline{"cpu_increase<15%": json.RawMessage(fmt.Sprintf(`{"cpu":%.2f}`, 20+rng.Float64()*30))}
	}
	if h.checks > 0 {
		at := h.applied.Add(time.Duration(h.checks) * 10 * time.Minute)
		hr.Gates = r.report(h, r.stages[h.stage], at, h.unhealthy, uint64(h.order)).Results
	}
	return hr, true
}

// outcome is the host's final outcome, for history and the risk model;
// ok is false for a host that was never changed or has not finished.
func (r *rolloutSim) outcome(h *hostSim, gates []patchpilot.GateResult) (patchpilot.Outcome, bool) {
	var kind patchpilot.OutcomeKind
	switch h.state {
	case patchpilot.HostSucceeded:
		kind = patchpilot.OutcomeSucceeded
	case patchpilot.HostRolledBack:
		kind = patchpilot.OutcomeRolledBack
	case patchpilot.HostRollbackFailed:
		kind = patchpilot.OutcomeRollbackFailed
	case patchpilot.HostFailed:
		kind = patchpilot.OutcomeFailed
	default:
		return patchpilot.Outcome{}, false
	}
	o := patchpilot.Outcome{Time: h.finished, Rollout: r.id, Host: h.h.Name, OS: r.distro.name + ":" + r.distro.version,
		Labels: h.h.Labels, Outcome: kind, Reason: h.reason, GateResults: gates}
	var names []string
	for _, k := range r.pkgs {
		p := r.distro.packages[k]
		o.Packages = append(o.Packages, patchpilot.PackageChange{Name: p.name, From: p.old, To: p.fixed, SourcePackage: p.source})
		names = append(names, p.name)
	}
	o.Features, _ = json.Marshal(map[string]any{"packages": names, "reboot": h.reboot, "role": h.h.Labels[patchpilot.LabelRole],
		"transaction_size": len(names), "removals": 0, "services": len(h.h.Groups)})
	return o, true
}

func ptr[T any](v T) *T { return &v }
