// Package labtest gates and serializes the tests that boot a lab.
//
// A lab boots systemd-nspawn hosts, a Prometheus and a synthetic load on
// fixed loopback subnets and ports. Two labs booted at once on a small
// machine starve each other (Prometheus falls behind its scrapes, queries
// time out), and two test runs on one machine would boot the same subnets
// twice. So every test that boots a lab first takes one machine-wide lock,
// an flock(2) on a fixed path, and keeps it until its lab is down.
package labtest

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot/internal/lab/labowner"
)

// DefaultLockPath is the machine-wide lock every lab test takes. It is
// the same path for every checkout, so that two test runs from different
// clones serialize too.
const DefaultLockPath = "/run/lock/patchpilot-lab-tests.lock"

// LockPathEnv names the environment variable that replaces
// DefaultLockPath, for a machine whose other lab users share another
// lock file.
const LockPathEnv = "PATCHPILOT_LAB_LOCK"

// pollInterval is how often a waiting test tries the lock again. Polling
// rather than a blocking flock lets the wait end at the test's deadline
// with a message that names the holder.
const pollInterval = 500 * time.Millisecond

// deadlineMargin is left of a test binary's -timeout when a test gives up
// waiting for the lock, so that it fails with a message rather than the
// binary's panic.
const deadlineMargin = 2 * time.Minute

// process is the one lock of this test process. flock(2) conflicts
// between two open files even in one process, so the tests of one binary
// (a package's shared lab and a test's own lab, or parallel subtests)
// share one descriptor and count its holders; the lock is a property of
// the process, which is why this is package state.
var process struct {
	mu      sync.Mutex
	holders int
	file    *os.File
}

// Require skips a lab test under -short and where the machine cannot run
// a lab: not root, or check (which may be nil) reports why. With CI=true
// a lab test must run, so those are failures instead of skips.
func Require(t testing.TB, check func() error) {
	t.Helper()
	if testing.Short() {
		t.Skip("lab test skipped in -short mode")
	}
	why := ""
	if os.Geteuid() != 0 {
		why = "lab tests need root (they mount file systems and boot systemd-nspawn hosts)"
	} else if check != nil {
		if err := check(); err != nil {
			why = err.Error()
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("the lab must run in CI (CI=true): %s", why)
	}
	t.Skipf("lab test skipped: %s", why)
}

// Lock takes the machine-wide lab lock for the rest of the test: call it
// before the lab boots, and register the lab's teardown after it, so that
// the lock is released only once the lab is down (cleanups run last
// registered, first run).
func Lock(t testing.TB) {
	t.Helper()
	release, err := Acquire(t.Logf, deadline(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
}

// LockShared takes the machine-wide lab lock for a lab that a package's
// tests share, which outlives the test that boots it: the caller releases
// the lock in TestMain, after the lab is down. Its error (the lock not
// had before the test's deadline) is the shared lab's error, for every
// test that wants the lab.
func LockShared(t testing.TB) (release func(), err error) {
	t.Helper()
	return Acquire(t.Logf, deadline(t))
}

// Acquire takes the machine-wide lab lock, waiting for another process
// that holds it until the deadline (zero waits without end), and returns
// the function that releases it. It is Lock for a lab shared by a
// package's tests, which TestMain tears down and then releases. logf gets
// how long the lock was waited for.
func Acquire(logf func(format string, args ...any), deadline time.Time) (release func(), err error) {
	process.mu.Lock()
	defer process.mu.Unlock()
	if process.holders > 0 {
		process.holders++
		return releaseOnce(), nil
	}
	path := LockPath()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("lab lock %s: %w", path, err)
	}
	began := time.Now()
	logged := false
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lab lock %s: %w", path, err)
		}
		if !logged {
			logf("lab lock %s is held (last taken by %s); waiting", path, holder(path))
			logged = true
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			who := holder(path)
			f.Close()
			return nil, fmt.Errorf("lab lock %s: still held (last taken by %s) after waiting %s; the test's -timeout is near",
				path, who, time.Since(began).Round(time.Second))
		}
		time.Sleep(pollInterval)
	}
	logf("lab lock %s taken after waiting %s", path, time.Since(began).Round(time.Millisecond))
	// The labs this process starts from now on (itself or through the
	// commands it runs) belong to it: if it is killed before it takes
	// them down (a -timeout's panic runs no cleanup), the next lab
	// started on this machine takes them down.
	if err := labowner.SetSelf(); err != nil {
		logf("lab owner: %v (a lab this test leaves behind if it is killed stays up)", err)
	}
	// Who holds the lock, for the message of whoever waits next.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(fmt.Sprintf("pid %d (%s) since %s\n", os.Getpid(), strings.Join(os.Args, " "),
			time.Now().UTC().Format(time.RFC3339))), 0)
	}
	process.file, process.holders = f, 1
	return releaseOnce(), nil
}

// LockPath is the lock file: $PATCHPILOT_LAB_LOCK or DefaultLockPath.
func LockPath() string {
	if p := os.Getenv(LockPathEnv); p != "" {
		return p
	}
	return DefaultLockPath
}

// releaseOnce returns a release for one holder; the last one unlocks.
func releaseOnce() func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			process.mu.Lock()
			defer process.mu.Unlock()
			process.holders--
			if process.holders == 0 {
				// Closing the file releases the flock.
				process.file.Close()
				process.file = nil
			}
		})
	}
}

// holder reads who took the lock last, as Acquire writes it into the lock
// file. Another program (flock(1) around a test run) may hold the lock
// without writing there, so it is who took it last, not surely who holds
// it now.
func holder(path string) string {
	b, err := os.ReadFile(path)
	if s := strings.TrimSpace(string(b)); err == nil && s != "" {
		return s
	}
	return "another process"
}

// deadline is when a test waiting for the lock gives up: deadlineMargin
// before the test binary's -timeout, or never without one.
func deadline(t testing.TB) time.Time {
	d, ok := t.(interface{ Deadline() (time.Time, bool) })
	if !ok {
		return time.Time{}
	}
	if end, ok := d.Deadline(); ok {
		return end.Add(-deadlineMargin)
	}
	return time.Time{}
}
