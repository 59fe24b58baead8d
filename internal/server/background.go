package server

import (
	"context"
	"fmt"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// DefaultAutoApprovalInterval bounds how long the server goes without
// looking for rollouts whose auto-approval time has come. The server also
// looks at the earliest such time it knows of, and whenever a rollout it
// drives stops to wait for an approval.
const DefaultAutoApprovalInterval = time.Minute

// SchedulerActor is the actor that saves the plans of patch schedules
// (app.SavePlan) and records them in the audit log.
const SchedulerActor = "scheduler"

// scheduleActor is the actor a scheduled rollout is started by.
func scheduleActor(name string) string { return "schedule:" + name }

// background starts the work the server does by itself until Shutdown:
// the schedules (when configured), the deliveries to the integrations
// (when configured) and the auto-approvals.
func (s *Server) background() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bgStarted || s.stopping {
		return
	}
	s.bgStarted = true
	if s.sched != nil {
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			s.log.Info("running the schedules", "schedules", len(s.app.Options.Schedules))
			if err := s.sched.Run(s.bgCtx); err != nil {
				s.log.Error("scheduler stopped", "err", err)
			}
		}()
	}
	if s.deliver != nil {
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			s.log.Info("delivering events to the integrations", "integrations", s.deliver.Notified())
			if err := s.deliver.Run(s.bgCtx); err != nil {
				s.log.Error("deliveries stopped", "err", err)
			}
		}()
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.watchAutoApprovals(s.bgCtx)
	}()
}

// wakeDeliveries makes the dispatcher read the log now: the server wrote
// an event. Events written by other processes are read at its poll.
func (s *Server) wakeDeliveries() {
	if s.deliver != nil {
		s.deliver.Wake()
	}
}

// stopBackground ends the background work and waits for it.
func (s *Server) stopBackground() {
	s.bgCancel()
	s.bg.Wait()
}

// launch is the scheduler's LaunchFunc: it saves the plan a patch
// schedule proposed and, when the policy lets it start without a person,
// starts it as "schedule:NAME" and drives it like a rollout started
// through the API. Otherwise the saved plan waits for a person to start
// it. Both are recorded in the audit log.
func (s *Server) launch(ctx context.Context, p patchpilot.Plan, source []byte, name string) (app.Launched, error) {
	ok, why, err := s.app.MayStartUnattended(ctx, p)
	if err != nil {
		return app.Launched{}, fmt.Errorf("policy check: %w", err)
	}
	rec, err := s.plans.SavePlan(ctx, p, source, SchedulerActor)
	s.recordAudit(ctx, patchpilot.AuditEntry{Actor: SchedulerActor, Action: "plan.create", Target: rec.ID}, err)
	if err != nil {
		return app.Launched{}, fmt.Errorf("save the plan: %w", err)
	}
	if !ok {
		return app.Launched{Proposed: true, Message: fmt.Sprintf("saved as plan %s, which waits for a person to start it: %s", rec.ID, why)}, nil
	}
	actor := scheduleActor(name)
	id, err := s.ctrl.Start(ctx, p, source, StartOptions{Actor: actor, PlanID: rec.ID})
	s.recordAudit(ctx, patchpilot.AuditEntry{Actor: actor, Action: "rollout.start", Target: rec.ID, Rollout: id}, err)
	if err != nil {
		return app.Launched{}, fmt.Errorf("start plan %s (saved as %s): %w", p.Name, rec.ID, err)
	}
	msg := fmt.Sprintf("saved as plan %s and started as rollout %s", rec.ID, id)
	if !s.runs.kick(id) {
		msg += "; the server is stopping, and its next start drives it"
	}
	s.notify.wake()
	return app.Launched{Rollout: id, Message: msg}, nil
}

// recordAudit records something the server did by itself, with the
// outcome err gives; a failure to record is logged.
func (s *Server) recordAudit(ctx context.Context, e patchpilot.AuditEntry, err error) {
	e.Time, e.Outcome = s.now(), "ok"
	if err != nil {
		e.Outcome = string(patchpilot.ErrorCode(err))
	}
	if aerr := s.people.RecordAudit(context.WithoutCancel(ctx), e); aerr != nil {
		s.log.Error("audit log", "action", e.Action, "err", aerr)
	}
}

// watchAutoApprovals drives each rollout waiting for an approval that the
// policy gives by itself once its auto-approval time has come: the
// controller then approves the stage as the policy (see
// app.StartRollout) and carries on. It looks at start, at the earliest
// auto-approval time it knows of, when a rollout stops to wait, and at
// least every AutoApprovalInterval.
func (s *Server) watchAutoApprovals(ctx context.Context) {
	for {
		next, err := s.autoApprovals(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("auto-approvals", "err", err)
		}
		d := s.autoInterval
		if !next.IsZero() {
			d = min(d, max(next.Sub(s.now()), time.Millisecond))
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.autoWake:
			t.Stop()
		case <-t.C:
		}
	}
}

// wakeAutoApprovals makes the watch look again now.
func (s *Server) wakeAutoApprovals() {
	select {
	case s.autoWake <- struct{}{}:
	default:
	}
}

// autoApprovals drives every rollout waiting for an approval whose
// auto-approval time has passed, and returns the earliest time still to
// come (zero: none).
func (s *Server) autoApprovals(ctx context.Context) (time.Time, error) {
	rs, err := s.app.Store.Rollouts(ctx, patchpilot.RolloutFilter{State: patchpilot.RolloutWaitingApproval})
	if err != nil {
		return time.Time{}, err
	}
	now := s.now()
	var next time.Time
	waiting := map[string]bool{}
	for _, r := range rs {
		waiting[r.ID] = true
		at := autoApproveAt(r)
		switch {
		case at.IsZero():
		case !at.After(now):
			// Once per interval: a rollout that stays waiting after its
			// drive (the approval was refused) is not driven in a loop.
			if last, ok := s.autoKicked[r.ID]; ok && time.Since(last) < s.autoInterval {
				continue
			}
			s.autoKicked[r.ID] = time.Now()
			s.log.Info("auto-approval time has come", "rollout", r.ID, "at", at)
			s.runs.kick(r.ID)
		case next.IsZero() || at.Before(next):
			next = at
		}
	}
	for id := range s.autoKicked {
		if !waiting[id] {
			delete(s.autoKicked, id)
		}
	}
	return next, nil
}

// autoApproveAt is when the policy approves the stage the rollout waits
// on, zero when no auto-approval applies.
func autoApproveAt(r patchpilot.Rollout) time.Time {
	for i, st := range r.Stages {
		if st.State != patchpilot.StageWaitingApproval || st.ApprovedBy != "" || i >= len(r.Plan.Stages) {
			continue
		}
		if at := r.Plan.Stages[i].AutoApproveAt; at != nil {
			return *at
		}
		return time.Time{}
	}
	return time.Time{}
}
