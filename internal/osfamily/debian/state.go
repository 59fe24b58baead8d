package debian

import (
	"regexp"
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
)

// StepState names the step that fingerprints what apt reads to find the
// pending updates (Facts.PackageState).
const StepState = "state"

// stateScript prints one md5 digest of everything apt-get -s
// dist-upgrade reads: the architectures, the dpkg status (installed
// packages, holds) and apt's extended states (automatic marks), every
// file of apt's configuration (sources, preferences and pins, apt.conf),
// the name and size of every index in the lists and the content of their
// Release files, which carry the indexes' own hashes; and on Ubuntu the
// machine id, which apt's phased updates depend on (each machine takes a
// phased update when a hash of its id falls under the update's phase, so
// two Ubuntu hosts with everything else equal may get different answers).
// Two hosts, or two collections of one host, with the same digest get the
// same answer from apt. Reading it costs a few milliseconds: no index is
// read in full.
//
// It is a constant, never built from input.
const stateScript = `set -f
cd / || exit 1
{
  echo "== arch"; dpkg --print-architecture; dpkg --print-foreign-architectures
  echo "== status"; md5sum /var/lib/dpkg/status /var/lib/apt/extended_states
  echo "== config"; find -L /etc/apt -type f -exec md5sum {} + | sort
  echo "== lists"; find /var/lib/apt/lists -maxdepth 1 -type f ! -name lock -printf '%f %s\n' | sort
  find /var/lib/apt/lists -maxdepth 1 -type f -name '*Release' -exec md5sum {} + | sort
  echo "== env"; printf '%s\n' "$APT_CONFIG"
  if grep -qs '^ID=ubuntu' /etc/os-release; then echo "== machine"; cat /etc/machine-id; fi
} 2>&1 | md5sum`

// StateStep returns the step that reads the host's package state.
func StateStep() osfamily.Step {
	return osfamily.Step{Name: StepState, Cmd: patchpilot.Command{Args: []string{"sh", "-c", stateScript, "patchpilot-state"}}}
}

var md5Line = regexp.MustCompile(`^([0-9a-f]{32}) +-\s*$`)

// ParseState returns the package state in the output of StateStep, or an
// error naming what it got instead.
func ParseState(t osfamily.Transcript) (string, error) {
	s := StateStep()
	res, err := t.Need(s)
	if err != nil {
		return "", err
	}
	m := md5Line.FindStringSubmatch(strings.TrimSpace(string(res.Stdout)))
	if m == nil {
		return "", patchpilot.Errorf(patchpilot.EINVALID, "package state: want an md5 digest, got %q", truncate(string(res.Stdout), 120))
	}
	return "apt:" + m[1], nil
}
