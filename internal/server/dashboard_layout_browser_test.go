package server

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/browsertest"
)

// At 1280 px a card holding a wide table scrolls inside itself: the page
// does not scroll sideways.
func TestDashboardWideTableScrollsInCard(t *testing.T) {
	exe := browsertest.Chromium(t)
	f := newFixture(t, fixtureOptions{})
	ctx := headless(t, exe)
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// A host name with no place to break, in the history page's "By
	// host" card, is as wide as a long one in a real fleet.
	widen := `(() => {
		const card = [...document.querySelectorAll(".grid3 section.card")].find(s => s.querySelector("h2").textContent === "By host");
		const row = card.querySelector("tbody").insertRow(0);
		row.innerHTML = "<td>" + "webfrontendeuwest".repeat(6) + ".example.internal</td><td>1</td><td>0</td><td>0%</td>";
		return true;
	})()`
	if err := chromedp.Do(sctx, chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(f.ts.URL+"/ui/login"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), f.tok[patchpilot.RoleViewer]),
		chromedp.Submit(chromedp.CSS("#token")), chromedp.WaitVisible(chromedp.CSS("#n-hosts")),
		chromedp.Navigate(f.ts.URL+"/ui/history"), chromedp.WaitVisible(chromedp.CSS("main h1"))); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(sctx, chromedp.Evaluate[bool](widen)); err != nil {
		t.Fatal(err)
	}
	overflow, err := chromedp.Run(sctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - document.documentElement.clientWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if overflow > 0 {
		t.Errorf("the page scrolls sideways by %d px at 1280 px", overflow)
	}
	scrolls, err := chromedp.Run(sctx, chromedp.Evaluate[bool](`(() => {
		const card = [...document.querySelectorAll(".grid3 section.card")].find(s => s.querySelector("h2").textContent === "By host");
		const r = card.getBoundingClientRect();
		return card.scrollWidth > card.clientWidth && r.right <= document.documentElement.clientWidth;
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if !scrolls {
		t.Errorf("the By host card does not scroll its wide table inside itself")
	}
}
