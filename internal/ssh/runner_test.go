package ssh

import (
	"bytes"
	"context"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/ssh/sshtest"
)

func TestRunReturnsExitStatusAndOutput(t *testing.T) {
	srv := sshtest.Start(t)
	r := mustDial(t, mustDialer(t, testOptions(t, srv)), srv.Host("web1"))
	tests := []struct {
		name       string
		cmd        patchpilot.Command
		wantStdout string
		wantStderr string
		wantExit   int
	}{
		{"success", patchpilot.Command{Args: []string{"echo", "hello"}}, "hello\n", "", 0},
		{"exit status", patchpilot.Command{Args: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}}, "out\n", "err\n", 3},
		{"missing program", patchpilot.Command{Args: []string{"no-such-program-xyz"}}, "", "env: 'no-such-program-xyz': No such file or directory\n", 127},
		{"stdin", patchpilot.Command{Args: []string{"cat"}, Stdin: []byte("line 1\nline 2\n")}, "line 1\nline 2\n", "", 0},
		{"no stdin reads EOF", patchpilot.Command{Args: []string{"cat"}}, "", "", 0},
		{"C locale", patchpilot.Command{Args: []string{"sh", "-c", "echo $LC_ALL $LANG"}}, "C C\n", "", 0},
		{"killed by signal", patchpilot.Command{Args: []string{"sh", "-c", "kill -9 $$"}}, "", "", 128 + 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Run(context.Background(), tt.cmd)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if string(got.Stdout) != tt.wantStdout || string(got.Stderr) != tt.wantStderr || got.ExitCode != tt.wantExit {
				t.Errorf("got stdout %q, stderr %q, exit %d; want %q, %q, %d",
					got.Stdout, got.Stderr, got.ExitCode, tt.wantStdout, tt.wantStderr, tt.wantExit)
			}
			if got.Duration <= 0 {
				t.Errorf("got duration %v, want > 0", got.Duration)
			}
		})
	}
}

func TestArgumentsReachTheHostUnchanged(t *testing.T) {
	srv := sshtest.Start(t)
	r := mustDial(t, mustDialer(t, testOptions(t, srv)), srv.Host("web1"))
	args := []string{
		"$(id)", "`id`", ";rm -rf x", "a|b", "a&b", "*", "~", "'", `"`, `it's`, `\`, `\'`,
		"two words", " ", "", "line\nbreak", "tab\there", "$HOME", "${PATH}", "!!", "#x", "-n", "--",
		"a'b\"c$d`e", "ünïcödé", "> /tmp/x", "<", "(", ")", "{a,b}", "[a]", "%s", "\x01\x7f",
	}
	// NUL separates the printed arguments, as no argument can contain it.
	res := run(t, r, append([]string{"printf", `%s\0`}, args...)...)
	got := strings.Split(string(res.Stdout), "\x00")
	got = got[:len(got)-1]
	if len(got) != len(args) {
		t.Fatalf("got %d arguments %q, want %d %q", len(got), got, len(args), args)
	}
	for i := range args {
		if got[i] != args[i] {
			t.Errorf("argument %d: got %q, want %q", i, got[i], args[i])
		}
	}
	if res.ExitCode != 0 || len(res.Stderr) != 0 {
		t.Errorf("got exit %d, stderr %q", res.ExitCode, res.Stderr)
	}
}

func TestCommandTimeoutKillsTheCommand(t *testing.T) {
	srv := sshtest.Start(t)
	r := mustDial(t, mustDialer(t, testOptions(t, srv)), srv.Host("web1"))
	const marker = "30.0417" // a sleep that no other process runs
	start := time.Now()
	_, err := r.Run(context.Background(), patchpilot.Command{Args: []string{"sleep", marker}, Timeout: time.Second})
	elapsed := time.Since(start)
	wantCode(t, err, patchpilot.ETIMEOUT, "web1", "sleep", "1s")
	// Left running, the sleep takes 30s: half of that proves the
	// timeout, however slow a busy machine makes the rest.
	if elapsed >= 15*time.Second {
		t.Errorf("timed out after %v, want about 1s", elapsed)
	}
	waitGone(t, "sleep "+marker)
	// The connection stays usable.
	run(t, r, "true")
}

func TestDefaultCommandTimeout(t *testing.T) {
	srv := sshtest.Start(t)
	o := testOptions(t, srv)
	o.CommandTimeout = 500 * time.Millisecond
	r := mustDial(t, mustDialer(t, o), srv.Host("web1"))
	_, err := r.Run(context.Background(), patchpilot.Command{Args: []string{"sleep", "30"}})
	wantCode(t, err, patchpilot.ETIMEOUT, "500ms")
}

func TestContextCancellationKillsTheCommand(t *testing.T) {
	srv := sshtest.Start(t)
	r := mustDial(t, mustDialer(t, testOptions(t, srv)), srv.Host("web1"))
	const marker = "30.0418"
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	_, err := r.Run(ctx, patchpilot.Command{Args: []string{"sleep", marker}})
	wantCode(t, err, patchpilot.ECANCELED, "web1")
	if elapsed := time.Since(start); elapsed >= 15*time.Second { // the sleep's 30s, halved
		t.Errorf("returned %v after the start, want about 300ms", elapsed)
	}
	waitGone(t, "sleep "+marker)

	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = r.Run(ctx, patchpilot.Command{Args: []string{"sleep", "30"}})
	wantCode(t, err, patchpilot.ETIMEOUT)
}

// waitGone waits until no process runs the command line cmd, which the
// host (this machine) was told to kill, for as long as a busy machine
// may take and well under the command's own 30s.
func waitGone(t *testing.T, cmd string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := exec.Command("pgrep", "-fx", cmd).Run()
		if err != nil { // pgrep exits 1 when nothing matches
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q still runs on the host", cmd)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestConcurrentCommandsShareOneConnection(t *testing.T) {
	srv := sshtest.Start(t)
	r := mustDial(t, mustDialer(t, testOptions(t, srv)), srv.Host("web1"))
	const n = DefaultMaxSessions
	outs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Each command prints when it started and ended (the host's
			// clock, in nanoseconds) and SSH_CONNECTION, which names the
			// client's address and port: equal values mean one TCP
			// connection carried every command.
			res, err := r.Run(context.Background(), patchpilot.Command{Args: []string{"sh", "-c", `date +%s%N; sleep 1; date +%s%N; echo "$SSH_CONNECTION"`}})
			outs[i], errs[i] = string(res.Stdout), err
		})
	}
	wg.Wait()
	var conn string
	var lastStart, firstEnd int64
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("command %d: %v", i, errs[i])
		}
		f := strings.Split(strings.TrimSpace(outs[i]), "\n")
		if len(f) != 3 {
			t.Fatalf("command %d printed %q, want its start, end and connection", i, outs[i])
		}
		start, err1 := strconv.ParseInt(f[0], 10, 64)
		end, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("command %d printed %q, want two times", i, outs[i])
		}
		if i == 0 {
			conn, lastStart, firstEnd = f[2], start, end
		}
		if f[2] == "" || f[2] != conn {
			t.Fatalf("command %d ran over connection %q, command 0 over %q", i, f[2], conn)
		}
		lastStart, firstEnd = max(lastStart, start), min(firstEnd, end)
	}
	// Every command had started before any ended: they ran at once,
	// whatever the machine's load, rather than one after another.
	if lastStart >= firstEnd {
		t.Errorf("the last command started %v after the first ended: the commands did not all run at once",
			time.Duration(lastStart-firstEnd))
	}
	if got := strings.Count(srv.Logs(), "Accepted publickey"); got != 1 {
		t.Errorf("sshd accepted %d logins, want 1", got)
	}
}

func TestMoreCommandsThanSessionsWait(t *testing.T) {
	srv := sshtest.Start(t, sshtest.ConfigLines("MaxSessions "+strconv.Itoa(DefaultMaxSessions)))
	r := mustDial(t, mustDialer(t, testOptions(t, srv)), srv.Host("web1"))
	var wg sync.WaitGroup
	errs := make([]error, 3*DefaultMaxSessions)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = r.Run(context.Background(), patchpilot.Command{Args: []string{"sleep", "0.2"}})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
	}
}

func TestLostConnectionIsUnreachable(t *testing.T) {
	srv := sshtest.Start(t)
	r := mustDial(t, mustDialer(t, testOptions(t, srv)), srv.Host("web1"))
	time.AfterFunc(300*time.Millisecond, srv.Stop)
	start := time.Now()
	_, err := r.Run(context.Background(), patchpilot.Command{Args: []string{"sleep", "30"}})
	wantCode(t, err, patchpilot.EUNREACHABLE, "web1", "lost")
	if elapsed := time.Since(start); elapsed >= 15*time.Second { // the sleep's 30s, halved
		t.Errorf("noticed the lost connection after %v", elapsed)
	}
	_, err = r.Run(context.Background(), patchpilot.Command{Args: []string{"true"}})
	wantCode(t, err, patchpilot.EUNREACHABLE, "lost")
}

func TestRunAfterCloseFails(t *testing.T) {
	srv := sshtest.Start(t)
	r := mustDial(t, mustDialer(t, testOptions(t, srv)), srv.Host("web1"))
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err := r.Run(context.Background(), patchpilot.Command{Args: []string{"true"}})
	wantCode(t, err, patchpilot.EUNREACHABLE, "closed")
}

func TestKeepaliveKeepsConnectionOpen(t *testing.T) {
	srv := sshtest.Start(t)
	o := testOptions(t, srv)
	// Long enough for two probes; an answer may take up to three
	// intervals (3s), which rides out a busy test machine.
	o.KeepaliveInterval = time.Second
	var logs syncBuffer
	o.Logger = testLogger(t, &logs)
	r := mustDial(t, mustDialer(t, o), srv.Host("web1"))
	time.Sleep(2200 * time.Millisecond)
	run(t, r, "true")
	if strings.Contains(logs.String(), "keepalive") {
		t.Errorf("keepalive complained: %s", logs.String())
	}
}

// A peer that stops answering is given up after three unanswered
// keepalive intervals: the connection closes and a command fails as
// unreachable instead of hanging until its own timeout.
func TestKeepaliveClosesAConnectionThatStopsAnswering(t *testing.T) {
	srv := sshtest.Start(t)
	o := testOptions(t, srv)
	o.KeepaliveInterval = 100 * time.Millisecond
	o.CommandTimeout = time.Minute
	var logs syncBuffer
	o.Logger = testLogger(t, &logs)
	r := mustDial(t, mustDialer(t, o), srv.Host("web1"))

	srv.Freeze()
	defer srv.Thaw()
	start := time.Now()
	_, err := r.Run(context.Background(), patchpilot.Command{Args: []string{"sleep", "30"}})
	wantCode(t, err, patchpilot.EUNREACHABLE)
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("the command failed only after %s", took)
	}
	if !strings.Contains(logs.String(), "keepalive unanswered") {
		t.Errorf("no keepalive warning in the log: %s", logs.String())
	}
}

func TestLargeOutput(t *testing.T) {
	srv := sshtest.Start(t)
	r := mustDial(t, mustDialer(t, testOptions(t, srv)), srv.Host("web1"))
	in := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB through stdin and back
	res, err := r.Run(context.Background(), patchpilot.Command{Args: []string{"cat"}, Stdin: in})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.Stdout, in) {
		t.Errorf("got %d bytes back, want the %d sent", len(res.Stdout), len(in))
	}
}
