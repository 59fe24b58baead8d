// Package capped reads input files with a cap on their size, so that a
// huge, endless or hostile file (a 50 MB plan, /dev/zero, a FIFO that never
// ends) is refused with an error instead of exhausting memory.
//
// The cap is enforced on the bytes actually read, never on the size the
// file system reports: /dev/zero, pipes and files under /proc report a size
// of zero. Every reader reads at most the cap plus one byte, and that extra
// byte is how it tells a file of exactly the cap from a longer one.
package capped

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/patchpilot/patchpilot"
)

// ErrTooLarge matches, with errors.Is, every error this package returns for
// an input longer than its cap.
var ErrTooLarge = errors.New("input larger than its cap")

// TooLargeError says which input passed which cap; errors.As finds it in
// the errors this package returns.
type TooLargeError struct {
	Source string // the file name, or file!member
	What   string // the kind of input: "plan", "inventory file"
	Max    int64  // the cap in bytes
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s: %s is larger than the cap of %s", e.Source, e.What, Size(e.Max))
}

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLarge }

// TooLarge returns the error for source (a file name, or file!member) being
// longer than max bytes; what names the kind of input ("plan",
// "inventory file"). It is an EINVALID *patchpilot.Error with a hint, which
// wraps a *TooLargeError.
func TooLarge(source, what string, max int64) error {
	return patchpilot.Errorf(patchpilot.EINVALID, "%w", &TooLargeError{Source: source, What: what, Max: max}).
		WithHint("the caps on input files are listed in docs/cli.md (Input size caps); split the file or check that it is the file you meant")
}

// Size formats a cap for a person: "64 MiB (67108864 bytes)".
func Size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB (%d bytes)", n>>20, n)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB (%d bytes)", n>>10, n)
	}
	return fmt.Sprintf("%d bytes", n)
}

// ReadFile reads the file at path, failing with TooLarge when it holds more
// than max bytes. Errors from opening or reading the file are returned as
// the os package reports them (test them with errors.Is(err,
// fs.ErrNotExist)), so that callers keep their own wording for a missing
// file.
func ReadFile(path, what string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAll(f, path, what, max)
}

// ReadAll reads r to its end, failing with TooLarge (naming source) after
// more than max bytes.
func ReadAll(r io.Reader, source, what string, max int64) ([]byte, error) {
	var buf bytes.Buffer
	if err := ReadInto(&buf, r, source, what, max); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ReadInto is ReadAll into a buffer the caller resets and reuses, for
// callers that read many inputs one after another.
func ReadInto(buf *bytes.Buffer, r io.Reader, source, what string, max int64) error {
	n, err := buf.ReadFrom(io.LimitReader(r, max+1))
	if err != nil {
		return err
	}
	if n > max {
		return TooLarge(source, what, max)
	}
	return nil
}

// Reader streams r and fails with TooLarge once more than Max bytes have
// been read, for inputs read a line at a time (JSONL) that must not be
// held whole in memory either.
type Reader struct {
	r      io.Reader
	source string
	what   string
	max    int64
	n      int64
}

// NewReader returns a Reader over r that allows max bytes.
func NewReader(r io.Reader, source, what string, max int64) *Reader {
	return &Reader{r: io.LimitReader(r, max+1), source: source, what: what, max: max}
}

// Read reads from the underlying reader; past the cap it returns TooLarge.
func (c *Reader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		return 0, TooLarge(c.source, c.what, c.max)
	}
	return n, err
}
