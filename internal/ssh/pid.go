package ssh

import (
	"bytes"
	"io"
	"strconv"
	"sync"
)

// maxPIDLine bounds what is buffered while waiting for the process id line;
// anything longer is not that line.
const maxPIDLine = 64

// pidFilter passes a command's standard error through to w, minus the line
// that reports the remote process id (see pidPrefix). Lines before it come
// from the login shell's startup files and pass through; the command's own
// output can only follow it.
type pidFilter struct {
	w io.Writer

	mu    sync.Mutex
	head  []byte // the start of a line that may be the id line
	long  bool   // the current line is too long to be the id line
	found bool
	pid   int
	ready chan struct{} // closed once the id line was seen or the output ended
}

func newPIDFilter(w io.Writer) *pidFilter {
	return &pidFilter{w: w, ready: make(chan struct{})}
}

func (f *pidFilter) Write(p []byte) (int, error) {
	n := len(p)
	f.mu.Lock()
	defer f.mu.Unlock()
	for !f.found && len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		switch {
		case f.long && i < 0:
			_, err := f.w.Write(p)
			return n, err
		case f.long:
			f.long = false
			if _, err := f.w.Write(p[:i+1]); err != nil {
				return n, err
			}
		case i < 0 && len(f.head)+len(p) > maxPIDLine:
			f.long = true
			_, err := f.w.Write(append(f.head, p...))
			f.head = nil
			return n, err
		case i < 0:
			f.head = append(f.head, p...)
			return n, nil
		default:
			line := append(f.head, p[:i+1]...)
			f.head = nil
			if pid, ok := parsePIDLine(line[:len(line)-1]); ok {
				f.pid, f.found = pid, true
				close(f.ready)
			} else if _, err := f.w.Write(line); err != nil {
				return n, err
			}
		}
		p = p[i+1:]
	}
	if len(p) == 0 {
		return n, nil
	}
	_, err := f.w.Write(p)
	return n, err
}

// flush passes on a partial line once the command has ended.
func (f *pidFilter) flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.found {
		f.found = true
		close(f.ready)
		f.w.Write(f.head)
		f.head = nil
	}
}

// PID returns the remote process id, or 0 when it is not known (yet).
func (f *pidFilter) PID() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pid
}

func parsePIDLine(line []byte) (int, bool) {
	rest, ok := bytes.CutPrefix(line, []byte(pidMarker))
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(string(rest))
	if err != nil || pid <= 1 {
		return 0, false
	}
	return pid, true
}
