// Package labowner names the process a lab belongs to.
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
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", fmt.Errorf("process %d: %w", pid, err)
	}
	// The fields after the command name, which is in parentheses and may
	// itself hold spaces or parentheses: the state is field 3, the start
	// time field 22.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", fmt.Errorf("process %d: unreadable /proc/%d/stat", pid, pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return "", fmt.Errorf("process %d: unreadable /proc/%d/stat", pid, pid)
	}
	if f[0] == "Z" || f[0] == "X" {
		return "", fmt.Errorf("process %d has exited", pid)
	}
	return f[19], nil
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
