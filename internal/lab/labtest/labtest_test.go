package labtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// holdLock takes the lock file the way another test run would: its own
// open file, which flock(2) treats as a different holder even in this
// process.
func holdLock(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("pid 4242 (other run)\n"); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestAcquireWaitsForAnotherHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lab.lock")
	t.Setenv(LockPathEnv, path)
	other := holdLock(t, path)
	const held = 1500 * time.Millisecond
	go func() {
		time.Sleep(held)
		other.Close()
	}()
	var logs []string
	logf := func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }
	began := time.Now()
	release, err := Acquire(logf, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(began); waited < held {
		t.Errorf("took the lock after %s, while another holder had it for %s", waited, held)
	}
	all := strings.Join(logs, "\n")
	if !strings.Contains(all, "held (last taken by pid 4242 (other run)); waiting") || !strings.Contains(all, "taken after waiting ") {
		t.Errorf("log does not name the holder and the wait:\n%s", all)
	}
	// Held now: a third holder must not get it until release.
	probe, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	if err := syscall.Flock(int(probe.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		t.Fatal("another open file took the lock while Acquire held it")
	}
	release()
	release() // a second call must not release someone else's hold
	if err := syscall.Flock(int(probe.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("the lock is still held after release: %v", err)
	}
}

func TestAcquireIsSharedWithinTheProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lab.lock")
	t.Setenv(LockPathEnv, path)
	quiet := func(string, ...any) {}
	shared, err := Acquire(quiet, time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// A test's own lab while the package's shared lab holds the lock:
	// the same process must not wait for itself.
	own, err := Acquire(quiet, time.Now().Add(time.Second))
	if err != nil {
		t.Fatalf("second holder in the same process: %v", err)
	}
	own()
	probe := func() error {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if probe() == nil {
		t.Fatal("the lock was released while the shared holder still had it")
	}
	shared()
	if err := probe(); err != nil {
		t.Fatalf("the lock is still held after the last release: %v", err)
	}
}

func TestAcquireGivesUpAtTheDeadline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lab.lock")
	t.Setenv(LockPathEnv, path)
	defer holdLock(t, path).Close()
	_, err := Acquire(func(string, ...any) {}, time.Now().Add(700*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "still held (last taken by pid 4242 (other run)) after waiting") {
		t.Fatalf("err = %v, want one naming the holder", err)
	}
}

func TestLockPath(t *testing.T) {
	t.Setenv(LockPathEnv, "")
	if got := LockPath(); got != DefaultLockPath {
		t.Errorf("LockPath() = %q, want %q", got, DefaultLockPath)
	}
	t.Setenv(LockPathEnv, "/tmp/x.lock")
	if got := LockPath(); got != "/tmp/x.lock" {
		t.Errorf("LockPath() = %q with %s set", got, LockPathEnv)
	}
}
