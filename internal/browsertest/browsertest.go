// Package browsertest finds and starts the browser that the dashboard's
// browser tests drive, and gives the folder where they keep their
// screenshots.
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
// $PATCHPILOT_SCREENSHOTS, kept; or else a new folder named from prefix
// under the temporary directory, kept only when the test fails (a passing
// run leaves nothing behind). The test's log names a kept folder, saying
// what the screenshots show.
func ScreenshotDir(t testing.TB, prefix, what string) string {
	t.Helper()
	if dir := os.Getenv("PATCHPILOT_SCREENSHOTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshots of %s: %s", what, dir)
		return dir
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("screenshots of %s, kept: %s", what, dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

// Headless starts a headless Chromium (exe, from Chromium) with a window
// of the given size and returns its context, closed when the test ends.
// The browser's own temporary files (its profile, its singleton socket)
// go to a folder of the test's, removed with it.
func Headless(t testing.TB, exe string, width, height int) context.Context {
	t.Helper()
	tmp := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.WindowSize(width, height),
		chromedp.UserDataDir(filepath.Join(tmp, "profile")), chromedp.Env("TMPDIR="+tmp))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
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
