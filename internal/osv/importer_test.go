package osv

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

func ids(advs []patchpilot.Advisory) []string {
	var out []string
	for _, a := range advs {
		out = append(out, a.ID)
	}
	return out
}

func TestImportDirectory(t *testing.T) {
	advs, err := ImportPath("testdata/records")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(ids(advs), " ")
	want := "ALSA-2022:7288 DSA-5532-1 CVE-2024-0727 USN-6622-1" // file-name order
	if got != want {
		t.Errorf("ids = %s, want %s", got, want)
	}
	if src := advs[0].Source; src != "testdata/records/almalinux/ALSA-2022-7288.json" {
		t.Errorf("source = %q", src)
	}
}

func TestImportSingleFile(t *testing.T) {
	advs, err := ImportPath("testdata/records/debian/DSA-5532-1.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(advs) != 1 || advs[0].ID != "DSA-5532-1" {
		t.Errorf("ids = %v", ids(advs))
	}
}

func TestImportMalformedDirectoryFailsWhole(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, "testdata/records/debian/DSA-5532-1.json", filepath.Join(dir, "a", "DSA-5532-1.json"))
	copyFile(t, "testdata/malformed/USN-1.json", filepath.Join(dir, "b", "USN-1.json"))
	advs, err := ImportPath(dir)
	if err == nil {
		t.Fatalf("import succeeded with %v", ids(advs))
	}
	want := filepath.Join(dir, "b", "USN-1.json") + ": affected[0].ranges[1].events[0]: expected one of"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q\ndoes not contain %q", err, want)
	}
	if advs != nil {
		t.Errorf("advisories returned with the error: %v", ids(advs))
	}
}

func TestImportNotFound(t *testing.T) {
	_, err := ImportPath(filepath.Join(t.TempDir(), "missing.zip"))
	if patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND || !strings.Contains(err.Error(), "missing.zip does not exist") {
		t.Errorf("error = %v, want not found naming the path", err)
	}
}

// writeZip builds a zip archive with the given files (name -> content).
func writeZip(t testing.TB, path string, names []string, content func(i int) []byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for i, name := range names {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(content(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestImportZip(t *testing.T) {
	usn, err := os.ReadFile("testdata/records/ubuntu/USN-6622-1.json")
	if err != nil {
		t.Fatal(err)
	}
	alsa, err := os.ReadFile("testdata/records/almalinux/ALSA-2022-7288.json")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "all.zip")
	files := [][]byte{usn, alsa, []byte("not a record, skipped by name")}
	writeZip(t, path, []string{"USN-6622-1.json", "sub/ALSA-2022-7288.json", "README.txt"}, func(i int) []byte { return files[i] })
	advs, err := ImportPath(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ids(advs), " "); got != "USN-6622-1 ALSA-2022:7288" {
		t.Errorf("ids = %s", got)
	}
	if advs[1].Source != path+"!sub/ALSA-2022-7288.json" || advs[1].Severity != "high" {
		t.Errorf("source, severity = %q, %q", advs[1].Source, advs[1].Severity)
	}
}

func TestImportZipMalformed(t *testing.T) {
	bad, err := os.ReadFile("testdata/malformed/USN-1-syntax.json")
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile("testdata/records/debian/DSA-5532-1.json")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "all.zip")
	files := [][]byte{good, bad}
	writeZip(t, path, []string{"DSA-5532-1.json", "USN-1.json"}, func(i int) []byte { return files[i] })
	_, err = ImportPath(path)
	if want := path + "!USN-1.json:5:57: invalid JSON"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error = %v, want it to contain %q", err, want)
	}
}

func TestImportZipNotAZip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "all.zip")
	if err := os.WriteFile(path, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ImportPath(path)
	if err == nil || !strings.Contains(err.Error(), "not a readable zip archive") {
		t.Errorf("error = %v", err)
	}
}

// largeZip writes an archive the size of a distribution's export (tens of
// thousands of records) and returns its path.
func largeZip(t testing.TB, n int) string {
	path := filepath.Join(t.TempDir(), "all.zip")
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("DEBIAN-CVE-2024-%05d.json", i)
	}
	writeZip(t, path, names, func(i int) []byte {
		return fmt.Appendf(nil, `{"id": "DEBIAN-CVE-2024-%05d", "modified": "2024-05-01T00:00:00Z",
			"affected": [{"package": {"ecosystem": "Debian:12", "name": "pkg%d"},
			"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.%d-1"}]}]}]}`, i, i%500, i)
	})
	return path
}

// walkCount walks path and checks each record's CVE, returning how many
// records it saw.
func walkCount(path string) (int, error) {
	count := 0
	err := WalkPath(context.Background(), path, func(a patchpilot.Advisory) error {
		count++
		if a.CVEs()[0] != a.ID[len("DEBIAN-"):] {
			return fmt.Errorf("%s: CVEs %v", a.ID, a.CVEs())
		}
		return nil
	})
	return count, err
}

// TestImportLargeZip walks an archive the size of a distribution's export
// whole. How fast is BenchmarkImportLargeZip's to say: a time asserted
// here would fail on a busy machine.
func TestImportLargeZip(t *testing.T) {
	const n = 20000
	path := largeZip(t, n)
	start := time.Now()
	count, err := walkCount(path)
	if err != nil {
		t.Fatal(err)
	}
	if count != n {
		t.Errorf("walked %d records, want %d", count, n)
	}
	t.Logf("walked %d records in %v", n, time.Since(start))
}

// BenchmarkImportLargeZip walks an archive of 20,000 records.
func BenchmarkImportLargeZip(b *testing.B) {
	path := largeZip(b, 20000)
	b.ResetTimer()
	for b.Loop() {
		if _, err := walkCount(path); err != nil {
			b.Fatal(err)
		}
	}
}

func TestImportKeepsNewestOfDuplicates(t *testing.T) {
	dir := t.TempDir()
	rec := func(modified, fixed string) string {
		return `{"id": "DSA-1", "modified": "` + modified + `", "affected": [{"package": {"ecosystem": "Debian:12", "name": "x"},
			"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "` + fixed + `"}]}]}]}`
	}
	writeFile(t, filepath.Join(dir, "1.json"), rec("2024-01-01T00:00:00Z", "1.0-1"))
	writeFile(t, filepath.Join(dir, "2.json"), rec("2024-03-01T00:00:00Z", "1.2-1"))
	writeFile(t, filepath.Join(dir, "3.json"), rec("2024-02-01T00:00:00Z", "1.1-1"))
	advs, err := ImportPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(advs) != 1 || advs[0].Affected[0].Ranges[0].Fixed != "1.2-1" {
		t.Errorf("advisories = %+v, want the one modified last", advs)
	}
}

func TestWalkStops(t *testing.T) {
	stop := errors.New("stop")
	calls := 0
	err := WalkPath(context.Background(), "testdata/records", func(patchpilot.Advisory) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("err, calls = %v, %d; want the callback's error after one call", err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = WalkPath(ctx, "testdata/records", func(patchpilot.Advisory) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, string(data))
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
