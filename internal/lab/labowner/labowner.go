// Package labowner names the process a lab belongs to, and reads what
// the lab needs of a process from /proc/PID/stat (ReadProc).
//
// A lab started with EnvOwner set records it; once that process has
// exited, the next lab started on the machine takes the abandoned lab
// down. The lab tests set it to the test process (labtest), so that a test
// binary killed by its -timeout leaves no lab behind for the next run to
// trip over. A lab started without it (`patchpilot lab up`, `patchpilot
// demo --keep`) belongs to no process and stays until `patchpilot lab
// down`.
package labowner

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// EnvOwner names the process a lab belongs to, as "PID:START": START is
// the process's start time in clock ticks since boot (field 22 of
// /proc/PID/stat), so that a reused pid is never taken for the owner.
const EnvOwner = "PATCHPILOT_LAB_OWNER"

// Of returns the EnvOwner value that names process pid.
func Of(pid int) (string, error) {
	start, err := startTime(pid)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d:%s", pid, start), nil
}

// startTime reads a process's start time; a zombie has none (it has exited).
func startTime(pid int) (string, error) {
	p, err := ReadProc(pid)
	if err != nil {
		return "", err
	}
	if p.Exited() {
		return "", fmt.Errorf("process %d has exited", pid)
	}
	return p.Start, nil
}

// Proc is what the lab reads of a process from /proc/PID/stat.
type Proc struct {
	PID   int
	Comm  string // the command name
	State byte   // 'R', 'S', ... 'Z' for a zombie, 'X' for a dead one
	PPID  int
	Start string // the start time in clock ticks since boot
}

// Exited reports whether the process has exited and only its entry is
// left.
func (p Proc) Exited() bool { return p.State == 'Z' || p.State == 'X' }

// ReadProc reads process pid's /proc/PID/stat.
func ReadProc(pid int) (Proc, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Proc{}, fmt.Errorf("process %d: %w", pid, err)
	}
	p, ok := ParseStat(b)
	if !ok {
		return Proc{}, fmt.Errorf("process %d: unreadable /proc/%d/stat", pid, pid)
	}
	return p, nil
}

// ParseStat reads the content of a /proc/PID/stat file. The fields after
// the command name, which is in parentheses and may itself hold spaces or
// parentheses, count from the last ')': the state is field 3, the parent
// field 4, the start time field 22.
func ParseStat(b []byte) (Proc, bool) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return Proc{}, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:open])))
	if err != nil {
		return Proc{}, false
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 20 || len(f[0]) != 1 {
		return Proc{}, false
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return Proc{}, false
	}
	return Proc{PID: pid, Comm: string(b[open+1 : end]), State: f[0][0], PPID: ppid, Start: f[19]}, true
}

// Parse checks an EnvOwner value.
func Parse(s string) (pid int, start string, err error) {
	p, st, ok := strings.Cut(s, ":")
	pid, perr := strconv.Atoi(p)
	if !ok || perr != nil || pid <= 0 || st == "" || strings.Trim(st, "0123456789") != "" {
		return 0, "", fmt.Errorf("%s=%q: want PID:START (the process's start time from /proc/PID/stat)", EnvOwner, s)
	}
	return pid, st, nil
}

// Gone reports whether the process an owner value names has exited (or
// its pid now belongs to another process). No owner is never gone, and
// nor is a value this version cannot read.
func Gone(owner string) bool {
	if owner == "" {
		return false
	}
	pid, start, err := Parse(owner)
	if err != nil {
		return false
	}
	now, err := startTime(pid)
	return err != nil || now != start
}

// FromEnv is the owner a new lab records: EnvOwner, checked; "" when unset.
func FromEnv() (string, error) {
	s := os.Getenv(EnvOwner)
	if s == "" {
		return "", nil
	}
	if _, _, err := Parse(s); err != nil {
		return "", err
	}
	return s, nil
}

// SetSelf makes this process (and the processes it starts) the owner of
// the labs started from now on.
func SetSelf() error {
	o, err := Of(os.Getpid())
	if err != nil {
		return err
	}
	return os.Setenv(EnvOwner, o)
}
