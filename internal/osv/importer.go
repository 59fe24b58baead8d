package osv

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/capped"
)

// MaxRecordSize bounds the size of one record file (docs/cli.md, Input size
// caps). The largest real
// records (Ubuntu CVE records listing every published version) are a few
// hundred kilobytes; the bound stops a damaged or hostile archive from
// exhausting memory.
const MaxRecordSize = 32 << 20

// WalkPath reads the OSV records at path and calls fn with each one, in
// file-name order (archive order for a .zip). path is a single .json record, a directory (searched
// recursively for *.json), or a .zip archive of *.json records as osv.dev
// exports them (all.zip). Records are read one at a time, so memory does
// not grow with the size of the archive. The first malformed record stops
// the walk with an error naming it; so does the first error fn returns,
// which is returned as it is. Callers that store records should do so in
// one transaction and roll back on error, so that nothing is half-applied.
func WalkPath(ctx context.Context, path string, fn func(patchpilot.Advisory) error) error {
	info, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return patchpilot.Errorf(patchpilot.ENOTFOUND, "advisory path %s does not exist", path).
				WithHint("give a .json record, a directory of them, or an osv.dev .zip export")
		}
		return patchpilot.Errorf(patchpilot.EINVALID, "read advisories: %w", err)
	}
	w := walker{ctx: ctx, fn: fn}
	switch {
	case info.IsDir():
		return w.dir(path)
	case strings.EqualFold(filepath.Ext(path), ".zip"):
		return w.zip(path)
	default:
		return w.file(path)
	}
}

// ImportPath reads every record at path (see WalkPath) and returns them.
// The import is all or nothing: any malformed record fails it. When several
// files carry the same id, the most recently modified record is kept, in
// the place of the first. Use WalkPath to stream records or to cancel a
// long import.
func ImportPath(path string) ([]patchpilot.Advisory, error) {
	return importPath(context.Background(), path)
}

func importPath(ctx context.Context, path string) ([]patchpilot.Advisory, error) {
	var out []patchpilot.Advisory
	index := map[string]int{}
	err := WalkPath(ctx, path, func(a patchpilot.Advisory) error {
		if i, ok := index[a.ID]; ok {
			if !a.Modified.Before(out[i].Modified) {
				out[i] = a
			}
			return nil
		}
		index[a.ID] = len(out)
		out = append(out, a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// walker holds one walk's context, callback and a buffer reused for every
// record.
type walker struct {
	ctx context.Context
	fn  func(patchpilot.Advisory) error
	buf bytes.Buffer
}

func (w *walker) dir(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return patchpilot.Errorf(patchpilot.EINVALID, "read advisories: %w", err)
		}
		if d.IsDir() || !isRecordName(p) {
			return nil
		}
		return w.file(p)
	})
}

func (w *walker) file(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINVALID, "read advisories: %w", err)
	}
	defer f.Close()
	return w.record(f, p)
}

func (w *walker) zip(p string) error {
	zr, err := zip.OpenReader(p)
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINVALID, "%s: not a readable zip archive: %w", p, err).
			WithHint("download the ecosystem's all.zip again")
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.FileInfo().IsDir() || !isRecordName(f.Name) {
			continue
		}
		source := p + "!" + f.Name
		if f.UncompressedSize64 > MaxRecordSize {
			return capped.TooLarge(source, "advisory record", MaxRecordSize)
		}
		rc, err := f.Open()
		if err != nil {
			return patchpilot.Errorf(patchpilot.EINVALID, "%s: %w", source, err)
		}
		err = w.record(rc, source)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// record reads one record from r (at most MaxRecordSize bytes), parses it
// and hands it to the callback.
func (w *walker) record(r io.Reader, source string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	w.buf.Reset()
	if err := capped.ReadInto(&w.buf, r, source, "advisory record", MaxRecordSize); err != nil {
		if errors.Is(err, capped.ErrTooLarge) {
			return err
		}
		return patchpilot.Errorf(patchpilot.EINVALID, "%s: %w", source, err).WithHint(hintBadRecord)
	}
	adv, err := Parse(w.buf.Bytes(), source)
	if err != nil {
		return err
	}
	return w.fn(adv)
}

func isRecordName(name string) bool {
	base := filepath.Base(name)
	return strings.EqualFold(filepath.Ext(base), ".json") && !strings.HasPrefix(base, ".")
}
