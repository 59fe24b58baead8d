package systemdrun

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Status
		ok   bool
	}{
		{"active\n-\nenv\napt-get\n", Status{Active: true, Args: []string{"env", "apt-get"}}, true},
		{"inactive\n0\nenv\n", Status{Finished: true, Args: []string{"env"}}, true},
		{"inactive\n100\n", Status{Finished: true, ExitCode: 100}, true},
		{"inactive\n-\n", Status{}, true},
		{"inactive\nx\n", Status{}, false},
		{"", Status{}, false},
	} {
		got, err := ParseStatus([]byte(tc.in))
		if (err == nil) != tc.ok || got.Active != tc.want.Active || got.Finished != tc.want.Finished || got.ExitCode != tc.want.ExitCode || !slices.Equal(got.Args, tc.want.Args) {
			t.Errorf("%q: got %+v, %v; want %+v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestStartCommand(t *testing.T) {
	cmd := StartCommand(Job{Unit: "pp-x", Args: []string{"apt-get", "install", "a=1"}, Timeout: 90 * time.Second})
	line := cmd.String()
	for _, want := range []string{"--unit=pp-x.service", "--collect", "RuntimeMaxSec=210", " 90s apt-get install a=1"} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
	if !cmd.Privileged {
		t.Error("not privileged")
	}
	for _, bad := range []string{"", "-x", "a b", "a/b", "a;b", "..x"} {
		if ValidUnit(bad) == nil {
			t.Errorf("unit %q: got valid", bad)
		}
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte("active\n-\nenv\n"))
	f.Add([]byte("inactive\n100\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseStatus(data)
		if err == nil && !st.Finished && st.ExitCode != 0 {
			t.Fatalf("exit code without a finished job: %+v", st)
		}
	})
}

// TestWaitCommandReturnsWhenTheJobEnds runs WaitCommand's script with a
// systemctl that says the unit is active: it waits while the job runs and
// prints the exit status once the job records it, long before its own
// limit; with a unit that is not running it returns at once.
func TestWaitCommandReturnsWhenTheJobEnds(t *testing.T) {
	dir, bin := t.TempDir(), t.TempDir()
	state := filepath.Join(bin, "state")
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte("#!/bin/sh\ncat "+state+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(ticks string) (string, error) {
		cmd := WaitCommand("pp-x", 0)
		args := append(slices.Clone(cmd.Args[1:]), "")
		args[3] = dir // the log directory
		args[len(args)-2] = ticks
		args = args[:len(args)-1]
		c := exec.Command(cmd.Args[0], args...)
		c.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
		out, err := c.Output()
		return string(out), err
	}
	if err := os.WriteFile(state, []byte("inactive\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// 2400 ticks are two minutes: a script that waited them out would
	// outlast the test's patience below.
	if out, err := run("2400"); err != nil || out != "inactive\n-\n" {
		t.Fatalf("unit not running: got %q, %v; want its status at once", out, err)
	}
	if err := os.WriteFile(state, []byte("active\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := run("2400")
		done <- result{out, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("returned before the job ended: %q, %v", r.out, r.err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := os.WriteFile(filepath.Join(dir, "pp-x.rc"), []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil || r.out != "active\n0\n" {
			t.Fatalf("got %q, %v; want the finished job's status", r.out, r.err)
		}
	case <-time.After(time.Minute):
		t.Fatal("still waiting a minute after the job recorded its exit status")
	}
}

// activeRunner answers every wait at once that the job still runs, as a
// host whose sleep takes no fraction of a second would.
type activeRunner struct{ calls atomic.Int64 }

func (r *activeRunner) Run(_ context.Context, cmd patchpilot.Command) (patchpilot.Result, error) {
	r.calls.Add(1)
	return patchpilot.Result{Stdout: []byte("active\n-\n")}, nil
}

func (r *activeRunner) Close() error { return nil }

// A wait on the host that comes back at once with the job still running
// is followed by a poll's pause: Wait does not spin round trips.
func TestWaitDoesNotSpinOnAnEarlyAnswer(t *testing.T) {
	r := &activeRunner{}
	const poll = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	began := time.Now()
	_, err := Runner{PollInterval: poll}.Wait(ctx, r, "pp-x", time.Hour)
	if patchpilot.ErrorCode(err) != patchpilot.ECANCELED {
		t.Fatalf("got %v, want the wait cancelled with its context", err)
	}
	// Every wait is followed by a poll's pause, but one that took half
	// its step on the host (here: this process descheduled that long on a
	// busy machine) and the last one, cut short by the deadline: at most
	// one wait per half poll of the time it took. A busy loop makes
	// thousands, as did one in the last milliseconds before the deadline,
	// where the step left shrinks to nothing.
	if n, most := r.calls.Load(), int64(time.Since(began)/(poll/2))+2; n > most {
		t.Errorf("%d waits in %s; want at most %d, one per half poll interval", n, time.Since(began).Round(time.Millisecond), most)
	}
}

// TestWaitBlocksOnTheJobsLock runs the job's real wrapper and WaitCommand's
// script against it, with a systemctl that says the unit is active and a
// sleep that counts its calls: while the job runs the wait blocks on the
// job's lock, polling nothing (no sleep, no systemctl), and prints the exit
// status once the job ends; a wait whose limit comes first returns the
// running job's status, again without polling.
func TestWaitBlocksOnTheJobsLock(t *testing.T) {
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("flock(1) is not installed")
	}
	dir, bin := t.TempDir(), t.TempDir()
	calls := filepath.Join(bin, "calls")
	realSleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	for name, script := range map[string]string{
		"systemctl": "#!/bin/sh\necho systemctl >> " + calls + "\necho active\n",
		"sleep":     "#!/bin/sh\necho sleep >> " + calls + "\nexec " + realSleep + " \"$@\"\n",
	} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	path := "PATH=" + bin + ":" + os.Getenv("PATH")
	start := func(unit, secs string) *exec.Cmd {
		args := StartCommand(Job{Unit: unit, Args: []string{realSleep, secs}}).Args
		i := slices.Index(args, "--")
		job := slices.Clone(args[i+1:])
		job[4] = dir // the log directory
		c := exec.Command(job[0], job[1:]...)
		c.Env = append(os.Environ(), path)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		// The command line is written once the lock is held.
		for k := 0; ; k++ {
			if _, err := os.Stat(filepath.Join(dir, unit+".cmd")); err == nil {
				break
			}
			if k > 2000 {
				t.Fatalf("the job %s never wrote its command line", unit)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := os.Remove(calls); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return c
	}
	wait := func(unit, ticks string) (string, []string) {
		cmd := WaitCommand(unit, 0)
		args := slices.Clone(cmd.Args[1:])
		args[3] = dir
		args[len(args)-1] = ticks
		c := exec.Command(cmd.Args[0], args...)
		c.Env = append(os.Environ(), path)
		out, err := c.Output()
		if err != nil {
			t.Fatalf("wait: %v", err)
		}
		got, _ := os.ReadFile(calls)
		return string(out), strings.Fields(string(got))
	}

	job := start("pp-lock", "0.5")
	out, polled := wait("pp-lock", "2400") // two minutes
	if err := job.Wait(); err != nil {
		t.Fatalf("job: %v", err)
	}
	if !strings.HasPrefix(out, "active\n0\n") {
		t.Errorf("got %q; want the finished job's status", out)
	}
	// The status itself asks systemd once; nothing else may run.
	if slices.Contains(polled, "sleep") || len(polled) > 1 {
		t.Errorf("the wait polled while the job ran: %v", polled)
	}

	job = start("pp-long", "30")
	defer job.Process.Kill()
	out, polled = wait("pp-long", "4") // 0.2s
	if !strings.HasPrefix(out, "active\n-\n") {
		t.Errorf("got %q; want the running job's status when the wait ran out", out)
	}
	if slices.Contains(polled, "sleep") || len(polled) > 1 {
		t.Errorf("the wait polled after its lock wait ran out: %v", polled)
	}
}
