package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

// A driving command interrupted by the person (Ctrl-C) says what became
// of the rollout and how to carry it on, as its help promises, instead of
// the bare "context canceled" of the engine.
func TestInterruptedRolloutSaysHowToResume(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := interruptedRollout(ctx, "r-1", patchpilot.RolloutRunning, context.Canceled)
	if patchpilot.ErrorCode(err) != patchpilot.ECANCELED || patchpilot.ExitCode(err) != 130 {
		t.Errorf("code %q, exit %d (%v); want %s and 130", patchpilot.ErrorCode(err), patchpilot.ExitCode(err), err, patchpilot.ECANCELED)
	}
	if !strings.Contains(err.Error(), "interrupted") || !strings.Contains(err.Error(), "r-1") || strings.Contains(err.Error(), "context canceled") {
		t.Errorf("error %q: want it to say the rollout r-1 was interrupted, in words", err)
	}
	if hint := patchpilot.ErrorHint(err); !strings.Contains(hint, "patchpilot rollout resume r-1") {
		t.Errorf("hint %q does not say how to resume", hint)
	}
	// Not interrupted: the error is the engine's, unchanged.
	other := errors.New("disk full")
	if got := interruptedRollout(context.Background(), "r-1", patchpilot.RolloutRunning, other); got != other {
		t.Errorf("an error of a command not interrupted became %v", got)
	}
	if got := interruptedRollout(ctx, "r-1", patchpilot.RolloutRunning, nil); got != nil {
		t.Errorf("no error became %v", got)
	}
}

// An interrupted dry run ends aborted: nothing is left to resume, and the
// error says so instead of sending the person to 'rollout resume', which
// refuses an aborted rollout.
func TestInterruptedDryRunSaysNothingToResume(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := interruptedRollout(ctx, "r-1", patchpilot.RolloutAborted, context.Canceled)
	if patchpilot.ExitCode(err) != 130 || !strings.Contains(err.Error(), "r-1 ended aborted") {
		t.Errorf("error %v (exit %d): want exit 130 saying r-1 ended aborted", err, patchpilot.ExitCode(err))
	}
	if hint := patchpilot.ErrorHint(err); strings.Contains(hint, "rollout resume") || !strings.Contains(hint, "nothing to resume") {
		t.Errorf("hint %q: want it to say there is nothing to resume, without the resume command", hint)
	}
}
