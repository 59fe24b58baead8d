package lab

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// lookPath finds a program in PATH and, because root's tools live there and
// some environments leave them out of PATH, in /usr/sbin and /sbin.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", patchpilot.Errorf(patchpilot.EUNAVAILABLE, "%s not found", name)
}

// command builds an exec.Cmd for a program found by lookPath.
func command(ctx context.Context, name string, args ...string) (*exec.Cmd, error) {
	p, err := lookPath(name)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, p, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	return cmd, nil
}

// run runs a program and returns its standard output; a failure carries the
// tail of its output so the cause is visible without a log.
func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd, err := command(ctx, name, args...)
	if err != nil {
		return nil, err
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return out.Bytes(), patchpilot.Errorf(patchpilot.EINTERNAL, "%s %s: %w: %s", name, strings.Join(args, " "), err, tail(errb.String()+out.String(), 1500))
	}
	return out.Bytes(), nil
}

// runLines is run, passing each line of the program's standard output to
// line (when not nil) as it comes.
func runLines(ctx context.Context, line func(string), name string, args ...string) ([]byte, error) {
	if line == nil {
		return run(ctx, name, args...)
	}
	cmd, err := command(ctx, name, args...)
	if err != nil {
		return nil, err
	}
	var out, errb bytes.Buffer
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = io.MultiWriter(&out, pw), &errb
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line(sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err = cmd.Run()
	pw.Close()
	<-done
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return out.Bytes(), patchpilot.Errorf(patchpilot.EINTERNAL, "%s %s: %w: %s", name, strings.Join(args, " "), err, tail(errb.String()+out.String(), 1500))
	}
	return out.Bytes(), nil
}

// tail keeps the last n bytes of s.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
