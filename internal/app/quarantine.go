package app

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/planner"
)

// Quarantine is a version of a package that failed on a class of hosts
// (OS release and role, patchpilot.ClassOf) in one of the fleet's
// rollouts: rolled back, failed or its rollback failed, and not for a
// reason unrelated to the patch. It is not offered again to that class
// ('assess' marks it, 'plan' leaves those hosts out) until a person
// clears it; a newer version of the package is not concerned.
type Quarantine struct {
	Package       string               `json:"package"`
	Version       string               `json:"version"`
	SourcePackage string               `json:"source_package,omitempty"`
	Class         patchpilot.HostClass `json:"class"`
	// Rollout, Host, Time, Outcome and Reason are the latest failure's.
	Rollout string                 `json:"rollout"`
	Host    string                 `json:"host"`
	Time    time.Time              `json:"time"`
	Outcome patchpilot.OutcomeKind `json:"outcome"`
	Reason  string                 `json:"reason,omitempty"`
	// Failures is how many host patches of the version failed on the
	// class since its last clearance.
	Failures int `json:"failures"`
	// Clear is the command that lifts it.
	Clear string `json:"clear"`
}

// Text says what is quarantined, where it failed and how to clear it.
func (q Quarantine) Text() string {
	verb := "rolled back"
	switch q.Outcome {
	case patchpilot.OutcomeFailed:
		verb = "failed"
	case patchpilot.OutcomeRollbackFailed:
		verb = "failed (and its rollback too)"
	}
	return fmt.Sprintf("quarantined: %s %s %s on %s (rollout %s, host %s, %s); clear with %s",
		q.Package, q.Version, verb, q.Class, q.Rollout, q.Host, q.Time.UTC().Format(time.DateOnly), q.Clear)
}

// matches reports whether the quarantine concerns a package (binary or
// source name) at a version on a class of hosts.
func (q Quarantine) matches(name, version string, class patchpilot.HostClass) bool {
	return q.Version == version && q.Class == class && (q.Package == name || (q.SourcePackage != "" && q.SourcePackage == name))
}

// quarantining reports whether an outcome quarantines the versions it
// installed on its host's class: a failure of the patch itself in one of
// the fleet's own rollouts (imported history names no rollout of this
// fleet, and an unreachable host never got the patch).
func quarantining(o patchpilot.Outcome) bool {
	switch o.Outcome {
	case patchpilot.OutcomeRolledBack, patchpilot.OutcomeFailed, patchpilot.OutcomeRollbackFailed:
	default:
		return false
	}
	return o.CountsAgainstPatch() && !strings.HasPrefix(o.Rollout, ImportRolloutPrefix)
}

// Quarantines derives the quarantined versions from the stored outcomes
// and clearances: each package version that failed on a class of hosts
// after its last clearance for that class (or for every class). Sorted by
// package, version and class.
func (a *App) Quarantines(ctx context.Context) ([]Quarantine, error) {
	outs, err := a.Store.Outcomes(ctx, patchpilot.OutcomeFilter{NoGateResults: true})
	if err != nil {
		return nil, err
	}
	return a.quarantinesOf(ctx, outs)
}

// quarantinesOf is Quarantines from the stored outcomes without gate
// results, already read (they are only read here).
func (a *App) quarantinesOf(ctx context.Context, outs []patchpilot.Outcome) ([]Quarantine, error) {
	clears, err := a.Store.QuarantineClearances(ctx)
	if err != nil {
		return nil, err
	}
	// clearedUntil is the latest clearance of a version for a class.
	clearedUntil := func(pkg, version string, class patchpilot.HostClass) time.Time {
		var t time.Time
		for _, c := range clears {
			if c.Package == pkg && c.Version == version && (c.Class == "" || c.Class == class) && c.ClearedAt.After(t) {
				t = c.ClearedAt
			}
		}
		return t
	}
	byKey := map[string]*Quarantine{}
	for _, o := range outs {
		if !quarantining(o) {
			continue
		}
		class := patchpilot.ClassOf(o.OS, o.Labels)
		for _, p := range o.Packages {
			if p.To == "" {
				continue
			}
			if !o.Time.After(clearedUntil(p.Name, p.To, class)) {
				continue
			}
			key := p.Name + "\x00" + p.To + "\x00" + string(class)
			q := byKey[key]
			if q == nil {
				q = &Quarantine{Package: p.Name, Version: p.To, Class: class,
					Clear: fmt.Sprintf("patchpilot quarantine clear %s=%s --class %s --reason WHY", p.Name, p.To, shellWord(string(class)))}
				byKey[key] = q
			}
			q.Failures++
			if p.SourcePackage != "" {
				q.SourcePackage = p.SourcePackage
			}
			if !o.Time.Before(q.Time) {
				q.Rollout, q.Host, q.Time, q.Outcome, q.Reason = o.Rollout, o.Host, o.Time, o.Outcome, o.Reason
			}
		}
	}
	out := make([]Quarantine, 0, len(byKey))
	for _, q := range byKey {
		out = append(out, *q)
	}
	sort.Slice(out, func(i, j int) bool {
		x, y := out[i], out[j]
		if x.Package != y.Package {
			return x.Package < y.Package
		}
		if x.Version != y.Version {
			return x.Version < y.Version
		}
		return x.Class < y.Class
	})
	return out, nil
}

// QuarantineClear asks to lift a quarantine: Package=Version on Class
// ("" for every class it is quarantined on), by Actor, with a reason.
type QuarantineClear struct {
	Package string               `json:"package"`
	Version string               `json:"version"`
	Class   patchpilot.HostClass `json:"class,omitempty"`
	Reason  string               `json:"reason,omitempty"`
	Actor   string               `json:"-"`
}

// QuarantineCleared is what a clearance lifted.
type QuarantineCleared struct {
	Clearance patchpilot.QuarantineClearance `json:"clearance"`
	Lifted    []Quarantine                   `json:"lifted"`
}

// ParseClass reads a host class as 'quarantine clear --class' takes it:
// "OS/ROLE", such as "debian:12/web" ("-" for a part that is unknown).
// The OS (os-release's ID:VERSION_ID) holds no "/", the role label may:
// the class splits at its first "/", so "debian:12/web/front" is role
// "web/front", as patchpilot.ClassOf writes it; a role may hold a space
// too (the shell then needs the class quoted, as Quarantine.Clear does).
func ParseClass(s string) (patchpilot.HostClass, error) {
	os, role, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok || os == "" || role == "" || strings.ContainsAny(s, "\t\r\n") || strings.ContainsAny(os, " ") {
		return "", patchpilot.Errorf(patchpilot.EINVALID, "--class %q: expected OS/ROLE, such as debian:12/web", s).
			WithHint("'patchpilot quarantine list' names the classes; \"-\" stands for an unknown part (debian:12/-)")
	}
	return patchpilot.HostClass(os + "/" + role), nil
}

// ClearQuarantine records a person's clearance of a quarantined version,
// with who cleared it, in the store and the audit log
// ("quarantine.clear"). A version that is not quarantined (on that class)
// is ENOTFOUND and nothing is stored.
func (a *App) ClearQuarantine(ctx context.Context, req QuarantineClear) (QuarantineCleared, error) {
	res, err := a.clearQuarantine(ctx, req)
	target := req.Package + "=" + req.Version
	if req.Class != "" {
		target += " on " + string(req.Class)
	}
	detail, _ := json.Marshal(map[string]any{"package": req.Package, "version": req.Version, "class": req.Class, "reason": req.Reason})
	if aerr := a.auditResult(ctx, req.Actor, "quarantine.clear", target, detail, err); aerr != nil && err == nil {
		return res, auditFailed(aerr, "the quarantine of "+target+" was cleared", "")
	}
	return res, err
}

func (a *App) clearQuarantine(ctx context.Context, req QuarantineClear) (QuarantineCleared, error) {
	if err := checkActor(req.Actor); err != nil {
		return QuarantineCleared{}, err
	}
	if strings.TrimSpace(req.Reason) == "" {
		return QuarantineCleared{}, patchpilot.Errorf(patchpilot.EINVALID, "clearing the quarantine of %s=%s needs a reason: none was given", req.Package, req.Version).
			WithHint("say why the version may be offered again, such as --reason \"config fixed on the web hosts\"; it is recorded with the clearance and in the audit log")
	}
	if req.Package == "" || req.Version == "" {
		return QuarantineCleared{}, patchpilot.Errorf(patchpilot.EINVALID, "%q: expected PACKAGE=VERSION", req.Package+"="+req.Version).
			WithHint("name the quarantined version as 'patchpilot quarantine list' shows it, such as pp-demo-web=1.1.3")
	}
	qs, err := a.Quarantines(ctx)
	if err != nil {
		return QuarantineCleared{}, err
	}
	res := QuarantineCleared{Lifted: []Quarantine{}}
	var classes []string
	for _, q := range qs {
		if q.Package != req.Package || q.Version != req.Version {
			continue
		}
		classes = append(classes, string(q.Class))
		if req.Class == "" || q.Class == req.Class {
			res.Lifted = append(res.Lifted, q)
		}
	}
	if len(res.Lifted) == 0 {
		e := patchpilot.Errorf(patchpilot.ENOTFOUND, "%s=%s is not quarantined", req.Package, req.Version)
		if req.Class != "" {
			e = patchpilot.Errorf(patchpilot.ENOTFOUND, "%s=%s is not quarantined on %s", req.Package, req.Version, req.Class)
		}
		if len(classes) > 0 {
			return res, e.WithHint("it is quarantined on " + strings.Join(classes, ", ") + ": name one of them with --class, or leave --class out for all")
		}
		return res, e.WithHint("'patchpilot quarantine list' lists the quarantined versions")
	}
	c, err := a.Store.ClearQuarantine(ctx, patchpilot.QuarantineClearance{Package: req.Package, Version: req.Version,
		Class: req.Class, Reason: req.Reason, ClearedBy: req.Actor, ClearedAt: a.now()})
	if err != nil {
		return res, err
	}
	res.Clearance = c
	return res, nil
}

// QuarantineClearances lists the clearances people gave, oldest first.
func (a *App) QuarantineClearances(ctx context.Context) ([]patchpilot.QuarantineClearance, error) {
	return a.Store.QuarantineClearances(ctx)
}

// QuarantinedHost is a host of a patch whose version is quarantined on
// the host's class.
type QuarantinedHost struct {
	Host       string     `json:"host"`
	Quarantine Quarantine `json:"quarantine"`
}

// hostClass is the class of a host from its summary (OS and labels).
func hostClass(s patchpilot.HostSummary, h patchpilot.Host) patchpilot.HostClass {
	os := ""
	if s.OSName != "" || s.OSVersion != "" {
		os = s.OSName + ":" + s.OSVersion
	}
	labels := s.Labels
	if labels == nil {
		labels = h.Labels
	}
	return patchpilot.ClassOf(os, labels)
}

// quarantinedOn returns the first quarantine of qs that one of the
// "name=version" changes concerns on the class, or nil.
func quarantinedOn(qs []Quarantine, changes []string, class patchpilot.HostClass) *Quarantine {
	for _, c := range changes {
		name, version, ok := strings.Cut(c, "=")
		if !ok {
			continue
		}
		for i := range qs {
			if qs[i].matches(name, version, class) {
				return &qs[i]
			}
		}
	}
	return nil
}

// markQuarantined adds to each patch of an assessment the hosts on which
// one of its versions is quarantined. The result's patches are copied:
// the cached assessment is not changed.
func (a *App) markQuarantined(ctx context.Context, res *AssessResult) error {
	if len(res.Patches) == 0 {
		return nil
	}
	qs, err := a.Quarantines(ctx)
	if err != nil || len(qs) == 0 {
		return err
	}
	sums, err := a.HostFactSummaries(ctx)
	if err != nil {
		return err
	}
	classes := map[string]patchpilot.HostClass{}
	for _, s := range sums {
		classes[s.Name] = hostClass(s, patchpilot.Host{})
	}
	patches := make([]PatchAssessment, len(res.Patches))
	for i, p := range res.Patches {
		p.Quarantined = nil
		for _, h := range p.Hosts {
			changes := h.Packages
			if len(changes) == 0 {
				changes = p.Packages
			}
			if q := quarantinedOn(qs, changes, classes[h.Host]); q != nil {
				p.Quarantined = append(p.Quarantined, QuarantinedHost{Host: h.Host, Quarantine: *q})
			}
		}
		patches[i] = p
	}
	res.Patches = patches
	return nil
}

// quarantinedTargets returns the targets on whose class a version the
// patch would install is quarantined: the pins, or for every pending
// security update each host's candidates.
func (a *App) quarantinedTargets(ctx context.Context, patch patchpilot.PatchSpec, targets []planner.HostView, fr *fleetReads) ([]QuarantinedHost, error) {
	qs, err := a.fleetQuarantines(ctx, fr)
	if err != nil || len(qs) == 0 {
		return nil, err
	}
	var pins []string
	for _, p := range patch.Packages {
		pins = append(pins, p.Name+"="+p.Version)
	}
	// Many targets: their security updates in one fleet-wide read.
	var fleetUpdates map[string][]patchpilot.HostUpdate
	if patch.SecurityAll && len(targets) > fleetReadFrom {
		if fleetUpdates, err = a.fleetUpdatesByHost(ctx, patch, fr); err != nil {
			return nil, err
		}
	}
	var out []QuarantinedHost
	for _, t := range targets {
		changes := pins
		if patch.SecurityAll {
			updates := fleetUpdates[t.Name()]
			if fleetUpdates == nil {
				var err error
				if updates, err = a.Updates(ctx, patchpilot.UpdateFilter{Host: t.Name(), SecurityOnly: true}); err != nil {
					return nil, err
				}
			}
			changes = nil
			for _, u := range updates {
				changes = append(changes, u.Package+"="+u.CandidateVersion)
				if u.SourcePackage != "" {
					changes = append(changes, u.SourcePackage+"="+u.CandidateVersion)
				}
			}
		}
		if q := quarantinedOn(qs, changes, hostClass(t.Facts, t.Host)); q != nil {
			out = append(out, QuarantinedHost{Host: t.Name(), Quarantine: *q})
		}
	}
	return out, nil
}

// leaveOutQuarantined removes from the targets those on whose class the
// patch is quarantined, unless allow is set, and returns the warnings to
// give and the targets left out (none: the targets were not narrowed).
// Every target quarantined is EFORBIDDEN.
func (a *App) leaveOutQuarantined(ctx context.Context, patch patchpilot.PatchSpec, targets []planner.HostView, allow bool, fr *fleetReads) ([]planner.HostView, []string, []QuarantinedHost, error) {
	qh, err := a.quarantinedTargets(ctx, patch, targets, fr)
	if err != nil || len(qh) == 0 {
		return targets, nil, nil, err
	}
	var warnings []string
	if allow {
		for _, h := range qh {
			warnings = append(warnings, fmt.Sprintf("kept %s (--allow-quarantined): %s", h.Host, h.Quarantine.Text()))
		}
		return targets, warnings, nil, nil
	}
	out := map[string]bool{}
	for _, h := range qh {
		out[h.Host] = true
		warnings = append(warnings, fmt.Sprintf("left out %s: %s", h.Host, h.Quarantine.Text()))
	}
	if len(qh) == len(targets) {
		q := qh[0].Quarantine
		return nil, nil, nil, patchpilot.Errorf(patchpilot.EFORBIDDEN, "every target (%d) is quarantined for this patch: %s",
			len(targets), q.Text()).
			WithHint("a newer version is not quarantined; or clear it, or plan anyway with --allow-quarantined")
	}
	kept := make([]planner.HostView, 0, len(targets)-len(qh))
	for _, t := range targets {
		if !out[t.Name()] {
			kept = append(kept, t)
		}
	}
	return kept, warnings, qh, nil
}

// LeftOutHost is a host a plan left out of its targets, and why.
type LeftOutHost struct {
	Host   string `json:"host"`
	Reason string `json:"reason"`
}

// NeverAnsweredReason is why a plan without selector leaves out a host
// whose facts were never collected.
const NeverAnsweredReason = "never answered (no facts collected)"

// AllLeftOut lists every host the proposal left out with the reason: those
// that never answered, then those on whose class the patch is quarantined,
// then those that unfinished rollouts hold (ProposeOptions.LeaveOutHeld).
func (p PlanProposal) AllLeftOut() []LeftOutHost {
	out := make([]LeftOutHost, 0, len(p.LeftOut)+len(p.Quarantined)+len(p.HeldOut))
	for _, h := range p.LeftOut {
		out = append(out, LeftOutHost{Host: h, Reason: NeverAnsweredReason})
	}
	for _, q := range p.Quarantined {
		out = append(out, LeftOutHost{Host: q.Host, Reason: q.Quarantine.Text()})
	}
	for _, h := range p.HeldOut {
		for _, n := range h.Hosts {
			out = append(out, LeftOutHost{Host: n, Reason: heldReason(h)})
		}
	}
	return out
}

// shellWord quotes s for a POSIX shell when it holds anything but plain
// characters, so that a command printed for a person to paste runs as is.
func shellWord(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:/=+,@%", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
