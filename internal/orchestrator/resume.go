package orchestrator

import (
	"context"

	"github.com/patchpilot/patchpilot"
)

// hostReality is what the host itself says, read before resuming a host
// whose record shows a change in progress.
type hostReality struct {
	Installed     map[string]string
	BootID        string
	RebootPending bool
}

// resumeDecision picks the step to carry on with from the recorded state
// and the host's real state, so that no host is changed twice by accident
// and none is skipped:
//   - before apply nothing was changed: start over with preflight;
//   - apply recorded and the targets installed: the transaction finished,
//     go on to the reboot (if the host still wants one) or verify;
//   - apply recorded and the targets not installed: apply again (the
//     package manager joins a transaction still running under the same
//     unit instead of starting another);
//   - reboot recorded and a new boot id: the host came back, verify;
//     the same boot id: reboot again;
//   - verify: bake again from the start.
func resumeDecision(hr patchpilot.HostRun, real hostReality) int {
	switch hr.State {
	case patchpilot.HostApply:
		for name, want := range hr.ToVersions {
			if real.Installed[name] != want {
				return stepApply
			}
		}
		if real.RebootPending {
			return stepReboot
		}
		return stepVerify
	case patchpilot.HostReboot:
		if hr.BootIDBefore != "" && real.BootID != "" && real.BootID != hr.BootIDBefore {
			return stepVerify
		}
		return stepReboot
	case patchpilot.HostVerify:
		return stepVerify
	}
	return stepPreflight
}

// resumeStep reads the host's real state when its record shows a change
// in progress and returns the step to go on with.
func (j *job) resumeStep(ctx context.Context) (int, error) {
	switch j.hr.State {
	case patchpilot.HostApply, patchpilot.HostReboot, patchpilot.HostVerify:
	default:
		return stepPreflight, nil
	}
	var real hostReality
	var err error
	if real.Installed, err = j.pm.Installed(ctx, j.runner, sortedKeys(j.hr.ToVersions)); err != nil {
		return 0, classify("read installed versions", err)
	}
	if real.BootID, err = readBootID(ctx, j.runner); err != nil {
		return 0, classify("read boot id", err)
	}
	if j.hr.State != patchpilot.HostVerify {
		real.RebootPending = rebootPending(ctx, j.runner)
	}
	step := resumeDecision(j.hr, real)
	if j.hr.State == patchpilot.HostReboot && step == stepVerify {
		// The host came back while no controller watched it (a host that
		// rebooted its own controller does so): record the boot it came
		// back with, as the reboot step would have.
		j.hr.BootIDAfter = real.BootID
	}
	j.rn.e.event(ctx, j.rn.r.ID, j.hr.Host, patchpilot.EventHostState,
		"resuming "+j.hr.Host+" recorded in "+string(j.hr.State)+" at step "+stepName(step)+" after reading its installed versions and boot id", nil)
	j.rebootNeed = step == stepReboot
	j.pins = pinsFromVersions(j.hr.ToVersions, j.rn.r.Plan.Patch, j.facts)
	return step, nil
}

func stepName(i int) string {
	return [...]string{"preflight", "snapshot", "apply", "reboot", "verify"}[i]
}

// rebootPending asks the host whether it wants a reboot: Debian's
// /run/reboot-required, or dnf's needs-restarting -r (exit 1 means yes).
func rebootPending(ctx context.Context, r patchpilot.Runner) bool {
	res, err := r.Run(ctx, patchpilot.Command{Args: []string{"test", "-e", "/run/reboot-required"}, Timeout: probeTimeout})
	if err == nil && res.ExitCode == 0 {
		return true
	}
	res, err = r.Run(ctx, patchpilot.Command{Args: []string{"needs-restarting", "-r"}, Timeout: probeTimeout})
	return err == nil && res.ExitCode == 1
}
