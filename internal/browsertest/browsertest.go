// Package browsertest finds the browser that the dashboard's browser tests
// drive, and the folder where they keep their screenshots.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// Chromium returns the path of a Chromium (Debian's chromium package,
// which scripts/deps.sh installs). Without one the test is skipped, or
// fails under CI=true, where the browser tests must run.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed: run scripts/deps.sh (CI=true requires the browser tests)")
	}
	t.Skip("chromium is not installed: the dashboard's browser tests are skipped (install it with scripts/deps.sh)")
	return ""
}

// ScreenshotDir is where a browser test writes its screenshots:
// $PATCHPILOT_SCREENSHOTS, or a new folder named from prefix under the
// temporary directory, kept after the test. The test's log names it,
// saying what the screenshots show.
func ScreenshotDir(t testing.TB, prefix, what string) string {
	t.Helper()
	dir := os.Getenv("PATCHPILOT_SCREENSHOTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", prefix); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots of %s: %s", what, dir)
	return dir
}

// FullScreenshot writes a PNG screenshot of the whole page to dir/name.png.
func FullScreenshot(dir, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		png, err := chromedp.FullScreenshot(100)(ctx, t)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	})
}

// Evaluate runs a script in the page, ignoring its value.
func Evaluate(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](expr)(ctx, t)
		return err
	})
}
