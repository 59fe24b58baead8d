package health

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// DependentProbeTimeout bounds one connection attempt from a dependent to
// the changed host's port.
const DependentProbeTimeout = 5 * time.Second

// tcpProbeScript opens a TCP connection to "$1":"$2" with bash's /dev/tcp
// and closes it. The script is a constant: the address and the port are
// positional arguments, checked before they are passed, never part of it.
const tcpProbeScript = `exec 3<>/dev/tcp/"$1"/"$2"`

func init() {
	gates[patchpilot.CriterionDependentsReachable] = gate{baseline: (*Checker).baseDependents, check: (*Checker).checkDependents}
}

// probeName is the script's $0.
const probeName = "patchpilot-dependents-probe"

// hostnamePattern matches DNS names and IPv4 addresses; IPv6 addresses are
// checked with net.ParseIP.
var hostnamePattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

// probeAddress checks that addr can be passed to the probe: an IP address
// or a host name, nothing a path or an option could be made of.
func probeAddress(addr string) error {
	if net.ParseIP(addr) != nil || (len(addr) <= 253 && hostnamePattern.MatchString(addr)) {
		return nil
	}
	return fmt.Errorf("%q is not an IP address or a host name", addr)
}

// dependentResult is one dependent's part of the evidence, and of the
// baseline.
type dependentResult struct {
	Host        string        `json:"host"`
	Services    []string      `json:"services,omitempty"`
	Reachable   []int         `json:"reachable,omitempty"`
	Unreachable []portFailure `json:"unreachable,omitempty"`
	// Before are the ports that were already unreachable from the
	// dependent before the change: not the change's doing.
	Before  []int  `json:"unreachable_before,omitempty"`
	Error   string `json:"error,omitempty"` // the dependent could not be asked
	Skipped string `json:"skipped,omitempty"`
}

// portFailure is a port a dependent could not connect to, and why.
type portFailure struct {
	Port   int    `json:"port"`
	Reason string `json:"reason"`
}

type dependentsEvidence struct {
	Address    string            `json:"address"`
	Dependents []dependentResult `json:"dependents"`
}

// dependentsBaseline is what each dependent reached before the change.
type dependentsBaseline struct {
	Address    string            `json:"address"`
	Dependents []dependentResult `json:"dependents"`
}

// baseDependents probes the host's ports from its dependents before the
// change, so that a port a dependent could not reach then (a firewall, a
// port the host never served) is not laid at the change's door. A
// dependent that cannot be asked is recorded as such, and its ports then
// count as reachable before: the check fails closed on them.
func (c *Checker) baseDependents(ctx context.Context, t patchpilot.HealthTarget, _ patchpilot.Criterion) (any, error) {
	addr := t.Host.Target()
	base := dependentsBaseline{Address: addr, Dependents: []dependentResult{}}
	if len(t.Dependents) == 0 || probeAddress(addr) != nil {
		return base, nil
	}
	for _, d := range t.Dependents {
		dr := dependentResult{Host: d.Host}
		switch {
		case d.Skip != "":
			dr.Skipped = d.Skip
		case t.Dial == nil:
			dr.Error = "no connection to dependents is available to this check"
		default:
			c.probeDependent(ctx, t, addr, d, &dr)
		}
		if err := ctx.Err(); err != nil {
			return nil, patchpilot.Errorf(patchpilot.ECANCELED, "dependents baseline of %s: %w", t.Host.Name, err)
		}
		base.Dependents = append(base.Dependents, dr)
	}
	return base, nil
}

// checkDependents connects, from each dependent of the host over the
// dependent's own runner, to the ports of the host it uses. A port a
// dependent cannot reach is a breach, unless the baseline shows it could
// not reach it before the change either (noted); a dependent that cannot
// be asked (no connection, no bash) fails closed; a dependent the caller
// marked Skip (it is being changed in the same rollout) is left out with a
// note.
func (c *Checker) checkDependents(ctx context.Context, t patchpilot.HealthTarget, _ patchpilot.Criterion, raw json.RawMessage) result {
	var base dependentsBaseline
	if err := json.Unmarshal(raw, &base); err != nil {
		return errorResult("unreadable baseline: " + err.Error())
	}
	before := map[string][]int{}
	for _, d := range base.Dependents {
		for _, f := range d.Unreachable {
			before[d.Host] = append(before[d.Host], f.Port)
		}
	}
	addr := t.Host.Target()
	ev := dependentsEvidence{Address: addr, Dependents: []dependentResult{}}
	if len(t.Dependents) == 0 {
		return result{outcome: patchpilot.GatePass, reason: "no host depends on " + t.Host.Name + " on the dependency map",
			value: ptr(0), threshold: ptr(0), evidence: ev}
	}
	if err := probeAddress(addr); err != nil {
		return errorResult("cannot probe " + t.Host.Name + " from its dependents: " + err.Error())
	}
	var errs, breaches, skipped, already []string
	checked := 0
	for _, d := range t.Dependents {
		dr := dependentResult{Host: d.Host, Services: d.Services}
		switch {
		case d.Skip != "":
			dr.Skipped = d.Skip
			skipped = append(skipped, d.Host+" ("+d.Skip+")")
		case t.Dial == nil:
			dr.Error = "no connection to dependents is available to this check"
			errs = append(errs, d.Host+": "+dr.Error)
		default:
			checked++
			c.probeDependent(ctx, t, addr, d, &dr)
			if dr.Error != "" {
				errs = append(errs, d.Host+": "+dr.Error)
			}
			now := dr.Unreachable
			dr.Unreachable = nil
			for _, f := range now {
				if slices.Contains(before[d.Host], f.Port) {
					dr.Before = append(dr.Before, f.Port)
					already = append(already, fmt.Sprintf("%s:%d from %s", addr, f.Port, d.Host))
					continue
				}
				dr.Unreachable = append(dr.Unreachable, f)
				breaches = append(breaches, fmt.Sprintf("%s cannot reach %s:%d: %s", d.Host, addr, f.Port, f.Reason))
			}
		}
		ev.Dependents = append(ev.Dependents, dr)
		if ctx.Err() != nil {
			return errorResult("interrupted: " + ctx.Err().Error())
		}
	}
	note := ""
	if len(skipped) > 0 {
		note = "; skipped " + joinMax(skipped, 5)
	}
	if len(already) > 0 {
		note += "; unreachable before the change as well, not counted: " + joinMax(already, 5)
	}
	r := result{value: ptr(float64(len(breaches) + len(errs))), threshold: ptr(0), evidence: ev}
	switch {
	case len(errs) > 0:
		r.outcome, r.reason = patchpilot.GateError, "cannot check from dependents: "+joinMax(errs, 3)
		if len(breaches) > 0 {
			r.reason += "; " + joinMax(breaches, 3)
		}
		r.reason += note
	case len(breaches) > 0:
		r.outcome, r.reason = patchpilot.GateBreach, joinMax(breaches, 5)+note
	case checked == 0:
		r.outcome, r.reason = patchpilot.GatePass, "no dependent checked"+note
	default:
		r.outcome, r.reason = patchpilot.GatePass, fmt.Sprintf("%s answers from all %d dependents checked%s", t.Host.Name, checked, note)
	}
	return r
}

// probeDependent dials the dependent and tries each of its ports.
func (c *Checker) probeDependent(ctx context.Context, t patchpilot.HealthTarget, addr string, d patchpilot.HealthDependent, dr *dependentResult) {
	if len(d.Ports) == 0 {
		dr.Error = "the dependency map names no port of " + t.Host.Name + " it uses"
		return
	}
	for _, p := range d.Ports {
		if p < 1 || p > 65535 {
			dr.Error = fmt.Sprintf("port %d is not a TCP port", p)
			return
		}
	}
	r, err := t.Dial(ctx, d.Host)
	if err != nil {
		dr.Error = "cannot connect to the dependent: " + err.Error()
		return
	}
	for _, p := range d.Ports {
		reached, failure, fatal := probeTCPPort(ctx, r, addr, p, "dependent")
		switch {
		case fatal != "":
			dr.Error = fatal
			return
		case reached:
			dr.Reachable = append(dr.Reachable, p)
		default:
			dr.Unreachable = append(dr.Unreachable, *failure)
		}
	}
}

// probeFailure reads why bash could not connect from its message, such as
// "bash: connect: Connection refused".
func probeFailure(stderr []byte) string {
	line := stderrLine(stderr, "connection failed")
	if i := strings.LastIndex(line, ": "); i >= 0 && i+2 < len(line) {
		line = line[i+2:]
	}
	return strings.ToLower(line)
}

func stderrLine(b []byte, fallback string) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return fallback
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// probeTCPPort runs the TCP probe of addr:port over r, on the machine r
// reaches (named by where in messages: "dependent", "host"). It returns
// whether the port answered, or its failure, or a fatal reason that ends
// the probing there (the probe cannot run on that machine).
func probeTCPPort(ctx context.Context, r patchpilot.Runner, addr string, port int, where string) (reached bool, failure *portFailure, fatal string) {
	cmd := patchpilot.Command{
		Args: []string{"timeout", strconv.Itoa(int(DependentProbeTimeout / time.Second)), "bash", "-c", tcpProbeScript,
			probeName, addr, strconv.Itoa(port)},
		Timeout: DependentProbeTimeout + 10*time.Second,
	}
	res, err := r.Run(ctx, cmd)
	switch {
	case err != nil:
		return false, nil, "cannot run the probe on the " + where + ": " + err.Error()
	case res.ExitCode == 0:
		return true, nil, ""
	case res.ExitCode == 124:
		return false, &portFailure{port, "no answer within " + DependentProbeTimeout.String()}, ""
	case res.ExitCode == 126 || res.ExitCode == 127:
		return false, nil, "the probe needs timeout and bash on the " + where + ": " + stderrLine(res.Stderr, "exit status "+strconv.Itoa(res.ExitCode))
	}
	return false, &portFailure{port, probeFailure(res.Stderr)}, ""
}
