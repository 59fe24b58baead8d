package health

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// The puppet_noop gate runs Puppet in no-op mode on the host with
// --detailed-exitcodes, whose exit status says whether the host is in its
// declared state: 0 in sync, 2 changes pending (drift), 4 failures, 6
// changes pending and failures, 1 the run itself failed. Puppet 7 also
// exits 0 from a no-op run whose would-be changes it reports as "(noop)"
// events, so those count as drift whatever the status. Drift is critical:
// the patch left the host out of the state its configuration management
// declares. Anything but 0 and drift fails closed with Puppet's output.

// Puppet's --detailed-exitcodes statuses.
const (
	puppetInSync   = 0
	puppetFailed   = 1
	puppetChanges  = 2
	puppetFailures = 4
	puppetBoth     = 6
)

// maxPuppetOutput bounds the output kept as a gate's evidence.
const maxPuppetOutput = 4000

// maxDrifted bounds the drifted resources listed in a gate's evidence.
const maxDrifted = 20

// PuppetCommand returns the command the puppet_noop gate runs: the agent
// against its server, or "puppet apply" of the configured manifest. Both
// run as root, in no-op mode, without colours.
func PuppetCommand(cfg patchpilot.PuppetConfig) (patchpilot.Command, error) {
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = patchpilot.DefaultPuppetTimeout
	}
	args := []string{"puppet", "agent", "--test", "--noop", "--detailed-exitcodes", "--color=false"}
	if cfg.Manifest != "" {
		if err := validatePuppet(cfg); err != nil {
			return patchpilot.Command{}, err
		}
		args = []string{"puppet", "apply", "--noop", "--detailed-exitcodes", "--color=false", "--", cfg.Manifest}
	}
	return patchpilot.Command{Args: args, Privileged: true, Timeout: timeout}, nil
}

func validatePuppet(cfg patchpilot.PuppetConfig) error {
	m := cfg.Manifest
	if m == "" {
		return nil
	}
	if !strings.HasPrefix(m, "/") || filepath.Clean(m) != m || strings.ContainsAny(m, "\x00\n\r") {
		return patchpilot.Errorf(patchpilot.EINVALID, "health: puppet: manifest: %q is not a clean absolute path on the host", m).
			WithHint("name the manifest as an absolute path such as /etc/puppet/code/environments/production/manifests/site.pp")
	}
	if cfg.Timeout < 0 {
		return patchpilot.Errorf(patchpilot.EINVALID, "health: puppet: timeout: %s is negative", cfg.Timeout)
	}
	return nil
}

// puppetEvidence is what a puppet_noop result keeps.
type puppetEvidence struct {
	Command  string   `json:"command"`
	ExitCode int      `json:"exit_code"`
	Drifted  []string `json:"drifted,omitempty"`
	Output   string   `json:"output"`
}

func (c *Checker) checkPuppet(ctx context.Context, t patchpilot.HealthTarget, _ patchpilot.Criterion, _ json.RawMessage) result {
	cmd, err := PuppetCommand(c.cfg.Puppet)
	if err != nil {
		return errorResult(err.Error())
	}
	res, err := t.Runner.Run(ctx, cmd)
	if err != nil {
		return errorResult("cannot run " + cmd.String() + ": " + err.Error())
	}
	return judgePuppet(cmd, res)
}

// judgePuppet maps Puppet's detailed exit status to a gate result.
func judgePuppet(cmd patchpilot.Command, res patchpilot.Result) result {
	out := string(res.Stdout)
	if len(res.Stderr) > 0 {
		out = strings.TrimRight(out, "\n") + "\n" + string(res.Stderr)
	}
	ev := puppetEvidence{Command: cmd.String(), ExitCode: res.ExitCode, Drifted: driftedResources(out), Output: tailBytes(strings.TrimSpace(out), maxPuppetOutput)}
	r := result{value: ptr(float64(len(ev.Drifted))), threshold: ptr(0), evidence: ev}
	drift := "Puppet would change the host"
	if len(ev.Drifted) > 0 {
		drift += ": " + joinMax(ev.Drifted, 3)
	}
	// Puppet 7 exits 0 from a no-op run that would change resources
	// (the changes were not made): the "(noop)" events say so.
	drifted := len(ev.Drifted) > 0
	switch {
	case res.ExitCode == puppetBoth || (drifted && res.ExitCode == puppetFailures):
		r.outcome, r.reason = patchpilot.GateCritical, "out of its declared state, and some resources failed: "+drift
	case res.ExitCode == puppetChanges || (drifted && res.ExitCode == puppetInSync):
		r.outcome, r.reason = patchpilot.GateCritical, "out of its declared state: "+drift
	case res.ExitCode == puppetInSync:
		r.outcome, r.reason = patchpilot.GatePass, "the host is in its declared state (Puppet no-op: no changes)"
	case res.ExitCode == puppetFailures:
		r.outcome, r.reason = patchpilot.GateError, "Puppet's no-op run had failures: "+lastLine(out)
	case res.ExitCode == puppetFailed:
		r.outcome, r.reason = patchpilot.GateError, "the Puppet run failed: "+lastLine(out)
	default:
		r.outcome, r.reason = patchpilot.GateError, fmt.Sprintf("%s exited with status %d: %s", cmd.Args[0], res.ExitCode, lastLine(out))
	}
	return r
}

// driftedResources lists the resources a no-op run would change: the
// line "Notice: /Stage[main]/Main/Package[nginx]/ensure: current_value
// '1.2', should be '1.1' (noop)" gives "Package[nginx]/ensure:
// current_value '1.2', should be '1.1'".
func driftedResources(out string) []string {
	var list []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasSuffix(line, "(noop)") {
			continue
		}
		line = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(line, "Notice: "), "(noop)"))
		if m := resourcePath.FindStringSubmatchIndex(line); m != nil && strings.HasPrefix(line, "/") {
			// The last resource type in the path before the property
			// starts what is worth reading; the class path is not.
			path := line[:m[1]]
			if i := lastResourceStart(path); i >= 0 {
				line = line[i:]
			}
		}
		if len(list) == maxDrifted {
			list = append(list, "...")
			break
		}
		list = append(list, line)
	}
	return list
}

// resourcePath matches the path of a no-op line up to the property:
// "/Stage[main]/Main/File[/etc/motd]/content:".
var resourcePath = regexp.MustCompile(`^/.*\]/[a-z_]+:`)

// resourceStart matches where a resource type starts in a path.
var resourceStart = regexp.MustCompile(`/[A-Z][A-Za-z0-9_:]*\[`)

// lastResourceStart returns the index just after the slash that starts the
// last resource reference of path, or -1.
func lastResourceStart(path string) int {
	locs := resourceStart.FindAllStringIndex(path, -1)
	if len(locs) == 0 {
		return -1
	}
	return locs[len(locs)-1][0] + 1
}

// lastLine returns the last non-empty line of out, which is where Puppet
// says why it failed; "no output" when there is none.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			if len(l) > 300 {
				l = l[:300] + "..."
			}
			return l
		}
	}
	return "no output"
}

// tailBytes keeps the last n bytes of s, marked when cut.
func tailBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
