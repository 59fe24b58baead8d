package app

import (
	"context"
	"path/filepath"
	"testing"
)

// openTestApp opens an App on a fresh SQLite store in a temporary folder,
// which is also the HOME it sees, run by the user "ann"; the App is closed
// when the test ends. It returns the folder for tests that put files in it.
func openTestApp(t *testing.T) (context.Context, *App, string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	a, err := New(ctx, Options{DBPath: filepath.Join(dir, "pp.db"), Env: []string{"HOME=" + dir, "USER=ann"}, CurrentUser: osUser("ann", "1000")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return ctx, a, dir
}
