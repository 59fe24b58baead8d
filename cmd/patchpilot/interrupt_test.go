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
	err := interruptedRollout(ctx, "r-1", context.Canceled)
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
	if got := interruptedRollout(context.Background(), "r-1", other); got != other {
		t.Errorf("an error of a command not interrupted became %v", got)
	}
	if got := interruptedRollout(ctx, "r-1", nil); got != nil {
		t.Errorf("no error became %v", got)
	}
}
