package osfamily

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/patchpilot/patchpilot"
)

// Options tune a collection.
type Options struct {
	// Refresh makes the collector update the package manager's metadata
	// (apt-get update, dnf makecache, zypper refresh) before listing
	// pending updates. It needs root and network access to the
	// repositories; without it the host's cached metadata is used.
	Refresh bool
	// Depth adds the steps of a collection in depth: services in depth,
	// sockets, modified files, held, pinned and foreign packages (see
	// DepthSteps and each family's DepthSteps).
	Depth bool
	// FullVerify, with Depth, verifies every file of every package
	// (dpkg --verify, rpm -Va with file digests) instead of the cheap
	// default (conffiles on Debian, sizes, modes and times on rpm).
	FullVerify bool
	// PolicySince, with Depth, is the host's clock when its package
	// policy was last read (HostDepth.PolicyClock); the depth step reads
	// the policy again only when the package database, lists or
	// configuration changed since. 0 reads it.
	PolicySince int64
}

// Step is one command of a collector. Its Name names the transcript files
// its output is kept in (Name.out, Name.err, Name.exit).
type Step struct {
	Name string
	Cmd  patchpilot.Command
	// First marks a step that must finish before the others start, such
	// as a metadata refresh that the update listing depends on.
	First bool
}

// ByName indexes steps by their names, so that a parser can name the
// command a step ran in its errors.
func ByName(steps []Step) map[string]Step {
	m := make(map[string]Step, len(steps))
	for _, s := range steps {
		m[s.Name] = s
	}
	return m
}

// Transcript holds what each step of a collection printed, by step name.
// Parsers read transcripts, never runners, so that they are pure and can
// be tested on captured output.
type Transcript map[string]patchpilot.Result

// Get returns a step's result and whether the step ran.
func (t Transcript) Get(name string) (patchpilot.Result, bool) {
	res, ok := t[name]
	return res, ok
}

// Run runs steps over r: those marked First one after the other, then all
// others concurrently, since one runner may run commands in parallel. It
// returns the results of the steps that ran and the first transport error,
// naming the step. A step that ran and failed is not an error here: its
// parser decides what its exit status means.
func Run(ctx context.Context, r patchpilot.Runner, steps []Step) (Transcript, error) {
	t := make(Transcript, len(steps))
	var rest []Step
	for _, s := range steps {
		if !s.First {
			rest = append(rest, s)
			continue
		}
		res, err := r.Run(ctx, s.Cmd)
		if err != nil {
			return t, stepError(s, err)
		}
		t[s.Name] = res
	}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
	)
	for _, s := range rest {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.Run(ctx, s.Cmd)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = stepError(s, err)
				}
				return
			}
			t[s.Name] = res
		}()
	}
	wg.Wait()
	return t, firstErr
}

func stepError(s Step, err error) error {
	var pe *patchpilot.Error
	if errors.As(err, &pe) {
		c := *pe
		c.Message = "collect " + s.Name + ": " + c.Message
		return &c
	}
	return patchpilot.Errorf(patchpilot.ErrorCode(err), "collect %s: %w", s.Name, err)
}

// Need returns a step's result, or an error when the step did not run or
// exited with a status not in ok (0 when ok is empty).
func (t Transcript) Need(s Step, ok ...int) (patchpilot.Result, error) {
	res, found := t[s.Name]
	if !found {
		return res, patchpilot.Errorf(patchpilot.EINVALID, "transcript has no output of %s", s.Name)
	}
	if len(ok) == 0 {
		ok = []int{0}
	}
	for _, code := range ok {
		if res.ExitCode == code {
			return res, nil
		}
	}
	return res, patchpilot.CommandError(s.Cmd, res)
}

// WriteTranscript writes t into dir in the layout that ReadTranscript and
// the parsers' testdata use: Name.out with standard output, Name.err with
// standard error when there was any, Name.exit with the exit status when
// it was not 0, and commands.txt listing the command of every step.
func WriteTranscript(dir string, steps []Step, t Transcript) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return patchpilot.Errorf(patchpilot.EINVALID, "create transcript directory: %w", err)
	}
	var cmds strings.Builder
	for _, s := range steps {
		res, ok := t[s.Name]
		if !ok {
			continue
		}
		fmt.Fprintf(&cmds, "%s: %s\n", s.Name, s.Cmd)
		files := map[string][]byte{s.Name + ".out": res.Stdout}
		if len(res.Stderr) > 0 {
			files[s.Name+".err"] = res.Stderr
		}
		if res.ExitCode != 0 {
			files[s.Name+".exit"] = []byte(strconv.Itoa(res.ExitCode) + "\n")
		}
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				return patchpilot.Errorf(patchpilot.EINTERNAL, "write transcript: %w", err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "commands.txt"), []byte(cmds.String()), 0o644); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "write transcript: %w", err)
	}
	return nil
}

// ReadTranscript reads a transcript directory written by WriteTranscript
// (or by hand in the same layout). A step is present when its .out file
// is.
func ReadTranscript(dir string) (Transcript, error) {
	outs, err := filepath.Glob(filepath.Join(dir, "*.out"))
	if err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "read transcript %s: %w", dir, err)
	}
	if len(outs) == 0 {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "no transcript (*.out files) in %s", dir)
	}
	sort.Strings(outs)
	t := make(Transcript, len(outs))
	for _, out := range outs {
		name := strings.TrimSuffix(filepath.Base(out), ".out")
		var res patchpilot.Result
		if res.Stdout, err = os.ReadFile(out); err != nil {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "read transcript: %w", err)
		}
		base := strings.TrimSuffix(out, ".out")
		if res.Stderr, err = os.ReadFile(base + ".err"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "read transcript: %w", err)
		}
		code, err := os.ReadFile(base + ".exit")
		switch {
		case err == nil:
			if res.ExitCode, err = strconv.Atoi(strings.TrimSpace(string(code))); err != nil {
				return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s.exit: want an exit status, got %q", base, strings.TrimSpace(string(code)))
			}
		case !errors.Is(err, fs.ErrNotExist):
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "read transcript: %w", err)
		}
		t[name] = res
	}
	return t, nil
}
