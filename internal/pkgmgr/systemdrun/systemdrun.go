// Package systemdrun runs a package transaction on a host as a transient
// systemd service, detached from the SSH session that started it, so that a
// controller that dies (or loses its connection) mid-transaction does not
// kill apt or dnf half-way. The job is named by its unit; its command line,
// output and exit status are kept in files next to each other under LogDir,
// so that a restarted controller can find a job, wait for it and read its
// result, and so that running a job twice under one unit name runs it once.
package systemdrun

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Defaults.
const (
	// LogDir holds, per unit, NAME.cmd (the command line, one argument a
	// line), NAME.log (its output), NAME.rc (its exit status, written
	// last and atomically, so its presence means the job finished) and
	// NAME.lock (locked by the job while it runs, so that a wait on the
	// host blocks on the lock instead of polling).
	LogDir = "/var/lib/patchpilot/logs"
	// DefaultPollInterval is how often Wait looks for the exit status.
	DefaultPollInterval = 500 * time.Millisecond
	// DefaultTimeout bounds a job whose Timeout is 0.
	DefaultTimeout = 30 * time.Minute
	// killGrace is how long the job's timeout(1) waits after SIGTERM
	// before SIGKILL, and how much longer systemd lets the unit live.
	killGrace = 60 * time.Second
	// maxLogBytes bounds how much of a job's output is read back.
	maxLogBytes = 4 << 20
	// ExitTimedOut is the exit status timeout(1) gives a job it stopped.
	ExitTimedOut = 124
)

// wrapper is the job's main process: it takes the job's lock (held until
// it exits, after the exit status is written; the command itself does not
// inherit it, so a daemon a maintainer script leaves behind cannot keep
// it), records the command line, runs the command under timeout(1) with
// its output in the log, then records the exit status atomically. A host
// without flock(1) runs the job all the same, unlocked: waits on it poll.
// It is a constant: every value reaches it as a positional argument,
// never as shell text.
const wrapper = `d=$1 u=$2 t=$3; shift 3
mkdir -p "$d" || exit 1
command exec 9>>"$d/$u.lock" && { flock -n 9 2>/dev/null || :; }
printf '%s\n' "$@" > "$d/$u.cmd.tmp" && mv "$d/$u.cmd.tmp" "$d/$u.cmd"
timeout -k 60 "$t" "$@" > "$d/$u.log" 2>&1 </dev/null 9>&-
rc=$?
echo "$rc" > "$d/$u.rc.tmp" && mv "$d/$u.rc.tmp" "$d/$u.rc"
exit "$rc"`

// unitName is what this package accepts as a unit name: systemd's unit
// name characters, without the ".service" suffix, short enough for a file
// name.
var unitName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,150}$`)

// ValidUnit reports whether name can name a job.
func ValidUnit(name string) error {
	name = strings.TrimSuffix(name, ".service")
	if !unitName.MatchString(name) || strings.Contains(name, "..") {
		return patchpilot.Errorf(patchpilot.EINVALID, "unit %q: expected letters, digits and _.:@- (at most 151), starting with a letter or digit", name)
	}
	return nil
}

// Job is one detached command.
type Job struct {
	// Unit names the transient service (without ".service").
	Unit string
	// Args is the command, built from validated values only.
	Args []string
	// Timeout bounds the command on the host; 0 means DefaultTimeout.
	Timeout time.Duration
	// Description is the unit's description, for systemctl status.
	Description string
}

// Result is a finished job.
type Result struct {
	ExitCode int
	Output   []byte
	// Args is the command line the job ran, as recorded on the host.
	Args []string
	// Reused is true when the job had already been started (by an
	// earlier call, perhaps from a controller that has since died)
	// and this call only waited for it.
	Reused bool
}

// Runner runs and waits for jobs. Its zero value polls every
// DefaultPollInterval.
type Runner struct {
	PollInterval time.Duration
}

// Status is what the host knows of a job.
type Status struct {
	Active   bool     // the unit is running (or starting, or stopping)
	Finished bool     // the exit status file exists
	ExitCode int      // valid when Finished
	Args     []string // the recorded command line, if any
}

func (j Job) base() string { return strings.TrimSuffix(j.Unit, ".service") }

// StartCommand is the systemd-run command that starts the job. The unit is
// collected when it ends (its result lives in LogDir) and is stopped by
// systemd after the timeout plus a grace, should timeout(1) itself hang.
func StartCommand(j Job) patchpilot.Command {
	t := j.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	secs := int64((t + time.Second - 1) / time.Second)
	desc := j.Description
	if desc == "" {
		desc = "patchpilot package transaction"
	}
	args := []string{"systemd-run", "--unit=" + j.base() + ".service", "--collect", "--quiet",
		"--description=" + desc,
		"--property=RuntimeMaxSec=" + strconv.FormatInt(secs+int64(2*killGrace/time.Second), 10),
		"--property=KillMode=mixed",
		"--", "/bin/sh", "-c", wrapper, "patchpilot-job", LogDir, j.base(), strconv.FormatInt(secs, 10) + "s"}
	args = append(args, j.Args...)
	return patchpilot.Command{Args: args, Privileged: true, Timeout: time.Minute}
}

// statusScript prints the unit's ActiveState, then the exit status file
// (or "-"), then the recorded command line. It is a constant.
const statusScript = `d=$1 u=$2
systemctl show -p ActiveState --value "$u.service" 2>/dev/null || echo unknown
if [ -f "$d/$u.rc" ]; then cat "$d/$u.rc"; else echo -; fi
cat "$d/$u.cmd" 2>/dev/null
exit 0`

// StatusCommand reads what the host knows of a job.
func StatusCommand(unit string) patchpilot.Command {
	return patchpilot.Command{Args: []string{"/bin/sh", "-c", statusScript, "patchpilot-status", LogDir, strings.TrimSuffix(unit, ".service")},
		Privileged: true, Timeout: time.Minute}
}

// waitScript waits on the host, for at most $3 ticks of 50ms, until the
// job's exit status file appears or its unit is no longer running, then
// prints what statusScript prints. A job that holds its lock (see wrapper)
// is waited for on the lock: the wait costs nothing while the job runs and
// ends the moment the job's main process exits, its exit status written.
// Without a held lock (a job started by an older wrapper, or just
// starting, a host without flock(1)) it looks for the file every tick and
// asks systemd about the unit every tenth tick, so a finished job is seen
// within 50ms of its end, in one round trip; a lock wait that ran out
// (flock's status 75) leaves no ticks to poll. It is a constant.
const waitScript = `d=$1 u=$2 n=$3 i=0
if [ ! -f "$d/$u.rc" ] && [ -f "$d/$u.lock" ] && [ "$n" -gt 0 ] && command -v flock >/dev/null 2>&1; then
flock -s -E 75 -w "$(printf '%d.%02d' $((n / 20)) $((n % 20 * 5)))" "$d/$u.lock" true 2>/dev/null
[ $? -ne 75 ] || i=$n
fi
while [ ! -f "$d/$u.rc" ] && [ "$i" -lt "$n" ]; do
if [ $((i % 10)) -eq 0 ]; then
case $(systemctl show -p ActiveState --value "$u.service" 2>/dev/null) in
active|activating|deactivating|reloading) ;;
*) break ;;
esac
fi
sleep 0.05 2>/dev/null || break
i=$((i+1))
done
` + statusScript

// maxWaitStep bounds one WaitCommand on the host, so that a long job is
// watched in steps (each a round trip) well inside a command's timeout.
const maxWaitStep = 20 * time.Second

// WaitCommand waits on the host, for at most d (in ticks of 50ms, at most
// maxWaitStep), for the job to end, and prints its status
// as StatusCommand does: it returns as soon as the job has finished, or at
// once when its unit is not running.
func WaitCommand(unit string, d time.Duration) patchpilot.Command {
	d = max(0, min(d, maxWaitStep))
	return patchpilot.Command{Args: []string{"/bin/sh", "-c", waitScript, "patchpilot-status", LogDir, strings.TrimSuffix(unit, ".service"),
		strconv.FormatInt(int64(d/(50*time.Millisecond)), 10)},
		Privileged: true, Timeout: time.Minute}
}

// LogCommand reads the end of a job's output.
func LogCommand(unit string) patchpilot.Command {
	return patchpilot.Command{Args: []string{"tail", "-c", strconv.Itoa(maxLogBytes), LogDir + "/" + strings.TrimSuffix(unit, ".service") + ".log"},
		Privileged: true, Timeout: time.Minute}
}

// ParseStatus parses the output of StatusCommand.
func ParseStatus(out []byte) (Status, error) {
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) < 2 {
		return Status{}, patchpilot.Errorf(patchpilot.EINVALID, "job status: want the unit state and the exit status on two lines, got %d line(s)", len(lines))
	}
	var st Status
	switch strings.TrimSpace(lines[0]) {
	case "active", "activating", "deactivating", "reloading":
		st.Active = true
	}
	if rc := strings.TrimSpace(lines[1]); rc != "-" {
		n, err := strconv.Atoi(rc)
		if err != nil {
			return Status{}, patchpilot.Errorf(patchpilot.EINVALID, "job status line 2: want an exit status, got %q", truncate(rc, 40))
		}
		st.Finished, st.ExitCode = true, n
	}
	if len(lines) > 2 {
		st.Args = lines[2:]
	}
	return st, nil
}

// Status reads what the host knows of the job named unit.
func (Runner) Status(ctx context.Context, r patchpilot.Runner, unit string) (Status, error) {
	if err := ValidUnit(unit); err != nil {
		return Status{}, err
	}
	cmd := StatusCommand(unit)
	res, err := r.Run(ctx, cmd)
	if err != nil {
		return Status{}, err
	}
	if res.ExitCode != 0 {
		return Status{}, patchpilot.CommandError(cmd, res)
	}
	return ParseStatus(res.Stdout)
}

// Run runs the job once: when the host already has a finished job of that
// unit, its result is returned; when one is running, it is waited for;
// otherwise the job is started and waited for. A job recorded under the
// same unit with a different command line is a conflict: the unit names
// one transaction.
func (jr Runner) Run(ctx context.Context, r patchpilot.Runner, j Job) (Result, error) {
	if err := ValidUnit(j.Unit); err != nil {
		return Result{}, err
	}
	if len(j.Args) == 0 {
		return Result{}, patchpilot.Errorf(patchpilot.EINVALID, "job %s: want a command", j.Unit)
	}
	st, err := jr.Status(ctx, r, j.Unit)
	if err != nil {
		return Result{}, err
	}
	if st.Active || st.Finished {
		if st.Args != nil && !equal(st.Args, j.Args) {
			return Result{}, patchpilot.Errorf(patchpilot.ECONFLICT, "unit %s already ran %q, not %q", j.Unit, strings.Join(st.Args, " "), strings.Join(j.Args, " ")).
				WithHint("name each transaction with its own unit")
		}
		res, err := jr.Wait(ctx, r, j.Unit, j.Timeout)
		res.Reused = true
		return res, err
	}
	cmd := StartCommand(j)
	res, err := r.Run(ctx, cmd)
	if err != nil {
		return Result{}, err
	}
	if res.ExitCode != 0 {
		return Result{}, patchpilot.CommandError(cmd, res).WithHint("the host needs systemd (systemd-run) to run package transactions detached")
	}
	return jr.Wait(ctx, r, j.Unit, j.Timeout)
}

// Wait waits for the job named unit to finish, for at most timeout plus
// the grace systemd gives it (timeout 0 means DefaultTimeout), and returns
// its result. A job that is neither running nor finished (the host
// rebooted while it ran, or it never started) is ENOTFOUND: the caller
// re-reads the host's package state and decides.
func (jr Runner) Wait(ctx context.Context, r patchpilot.Runner, unit string, timeout time.Duration) (Result, error) {
	if err := ValidUnit(unit); err != nil {
		return Result{}, err
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	poll := jr.PollInterval
	if poll <= 0 {
		poll = DefaultPollInterval
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout+3*killGrace)
	defer cancel()
	// A job just started may not be active yet; allow it a few polls.
	// Each poll waits on the host until the job ends (WaitCommand), so a
	// finished job is seen at once rather than at the next poll.
	missing := 0
	for {
		step := maxWaitStep
		if dl, ok := ctx.Deadline(); ok {
			step = min(step, time.Until(dl))
		}
		began := time.Now()
		st, err := jr.wait(ctx, r, unit, step)
		if err != nil {
			return Result{}, err
		}
		if st.Finished {
			return jr.result(ctx, r, unit, st)
		}
		if st.Active {
			// The step on the host ran out with the job still running:
			// wait again at once. A step that came back early with the
			// job still running (a host whose sleep takes no fraction of
			// a second) is followed by a poll's pause, not by a busy loop
			// of round trips. So is a step shorter than a poll (the
			// deadline is near): a step of almost nothing "runs out" at
			// once, and waiting again at once would spin until the
			// deadline.
			if err := ctx.Err(); err == nil && step >= poll && time.Since(began) >= step/2 {
				continue
			}
		} else if missing++; missing > 3 {
			return Result{}, patchpilot.Errorf(patchpilot.ENOTFOUND, "job %s is neither running nor finished on the host", unit).
				WithHint("it was interrupted (a reboot?): check the host's package state (dpkg --audit, dnf history) before retrying")
		}
		select {
		case <-ctx.Done():
			if err := parent.Err(); err != nil {
				return Result{}, patchpilot.Errorf(patchpilot.ECANCELED, "waiting for job %s: %w", unit, err).
					WithHint("it keeps running on the host; wait for it again with the same unit")
			}
			return Result{}, patchpilot.Errorf(patchpilot.ETIMEOUT, "job %s still running after %s", unit, timeout).
				WithHint("it keeps running on the host; wait for it again with the same unit")
		case <-time.After(poll):
		}
	}
}

// wait runs WaitCommand for at most d and parses its status.
func (Runner) wait(ctx context.Context, r patchpilot.Runner, unit string, d time.Duration) (Status, error) {
	cmd := WaitCommand(unit, d)
	res, err := r.Run(ctx, cmd)
	if err != nil {
		return Status{}, err
	}
	if res.ExitCode != 0 {
		return Status{}, patchpilot.CommandError(cmd, res)
	}
	return ParseStatus(res.Stdout)
}

func (Runner) result(ctx context.Context, r patchpilot.Runner, unit string, st Status) (Result, error) {
	cmd := LogCommand(unit)
	res, err := r.Run(ctx, cmd)
	if err != nil {
		return Result{}, err
	}
	// A missing log (the command could not be run at all) is an empty
	// output; the exit status says what happened.
	return Result{ExitCode: st.ExitCode, Output: res.Stdout, Args: st.Args}, nil
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
