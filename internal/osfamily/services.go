package osfamily

import (
	"strings"

	"github.com/patchpilot/patchpilot"
)

// StepServices names the running-services step.
const StepServices = "services"

// ServicesStep lists the running systemd services; every supported family
// runs systemd.
func ServicesStep() Step {
	return Step{Name: StepServices, Cmd: patchpilot.Command{Args: []string{
		"systemctl", "list-units", "--type=service", "--state=running", "--no-legend", "--plain", "--no-pager",
	}}}
}

// ParseServices returns the unit names (such as "ssh.service") of the
// running services that "systemctl list-units --plain --no-legend"
// printed, one per line with the unit first.
func ParseServices(out []byte) []string {
	var units []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && (f[0] == "●" || f[0] == "*") {
			f = f[1:] // the failed-unit marker, when --plain was ignored
		}
		if len(f) > 0 && strings.HasSuffix(f[0], ".service") && len(f[0]) > len(".service") {
			units = append(units, f[0])
		}
	}
	return units
}

// Services reads the services step leniently: a host where systemctl
// cannot talk to systemd (a container without systemd as PID 1) has no
// service list, which is not a reason to fail the whole collection.
//
// A collection in depth has no services step: the depth step lists them.
func Services(t Transcript) []string {
	if _, ok := t.Get(StepServices); !ok {
		units, _ := DepthServices(t)
		return units
	}
	res, ok := t.Get(StepServices)
	if !ok || res.ExitCode != 0 {
		return nil
	}
	return ParseServices(res.Stdout)
}
