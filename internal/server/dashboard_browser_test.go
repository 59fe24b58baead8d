package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
	"github.com/patchpilot/patchpilot/internal/browsertest"
)

// headless starts a headless Chromium and returns its context.
func headless(t *testing.T, exe string) context.Context {
	t.Helper()
	return browsertest.Headless(t, exe, 1360, 1000)
}

// The dashboard in a real browser over a seeded store: log in, the
// overview's numbers are the API's, a host's page, a rollout's page
// updating live, approving as an approver, the starter's approval
// refused, and a form posted without its CSRF token refused.
func TestDashboardInBrowser(t *testing.T) {
	exe := browsertest.Chromium(t)
	f := newFixture(t, fixtureOptions{seed: func(a *app.App) {
		if err := seedFleet(a); err != nil {
			t.Fatal(err)
		}
		// The three rollouts wait at once: each has hosts of its own.
		seedHostsIn(t, a, "test-b", "web-3", "web-4")
		seedHostsIn(t, a, "test-c", "web-5", "web-6")
	}})
	byOperator := f.startApprovalOn(patchpilot.RoleOperator, "test-b")
	byApprover := f.startApprovalOn(patchpilot.RoleApprover, "test-c")
	live := f.startApproval(patchpilot.RoleOperator)
	// The canary judge's looks at one metric, for the charts.
	for look, e := range [][3]float64{{0.03, -0.06, 0.12}, {0.04, -0.02, 0.1}, {0.035, 0.005, 0.065}, {0.03, 0.01, 0.05}} {
		if _, err := f.app.Store.AppendEvent(f.ctx, gateEvent(live, "web-1", look+1, e[0], e[1], e[2], patchpilot.GateInconclusive)); err != nil {
			t.Fatal(err)
		}
	}
	dir := browsertest.ScreenshotDir(t, "patchpilot-dashboard-", "every page")
	ctx := headless(t, exe)
	// Each step is bounded only so that a broken run does not hang; the
	// steps wait for what the page shows, not for a time.
	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		v, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(v)
	}
	base := f.ts.URL

	// Log in.
	run("login", chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#token")), browsertest.FullScreenshot(dir, "01-login"),
		chromedp.SendKeys(chromedp.CSS("#token"), f.tok[patchpilot.RoleApprover]),
		chromedp.Submit(chromedp.CSS("#token")), chromedp.WaitVisible(chromedp.CSS("#n-hosts")))

	// The overview's numbers are the API's.
	run("overview", browsertest.FullScreenshot(dir, "02-overview"))
	hostsN, secN, rebootN, outN := text("#n-hosts"), text("#n-security-updates"), text("#n-reboot"), text("#n-out-of-sla")
	hosts := decode[[]patchpilot.HostSummary](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/hosts", "", http.StatusOK))
	sec := decode[[]patchpilot.HostUpdate](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/updates?security=true", "", http.StatusOK))
	comp := decode[struct{ Totals app.ComplianceTotals }](t, f.as(patchpilot.RoleViewer, "GET", "/api/v1/compliance", "", http.StatusOK))
	reboot := 0
	for _, h := range hosts {
		if h.RebootRequired {
			reboot++
		}
	}
	for _, c := range []struct {
		name, got string
		want      int
	}{{"hosts", hostsN, len(hosts)}, {"security updates", secN, len(sec)}, {"reboot", rebootN, reboot}, {"out of SLA", outN, comp.Totals.OutOfSLA}} {
		if strings.TrimSpace(c.got) != strconv.Itoa(c.want) {
			t.Errorf("overview %s = %q; the API says %d", c.name, c.got, c.want)
		}
	}

	// The other pages.
	run("host", chromedp.Navigate(base+"/ui/hosts/db-1"), chromedp.WaitVisible(chromedp.CSS("#updates")), browsertest.FullScreenshot(dir, "03-host"))
	if updates := text("#updates"); !strings.Contains(updates, "CVE-2024-0727") || !strings.Contains(updates, "openssl") {
		t.Errorf("db-1's updates: %q", updates)
	}
	for i, p := range []string{"/ui/hosts", "/ui/hosts?sort=security&dir=desc", "/ui/updates", "/ui/rollouts", "/ui/history", "/ui/kpis"} {
		name := fmt.Sprintf("%02d-", 4+i) + strings.NewReplacer("/ui/", "", "/", "-", "?", "-", "&", "-", "=", "-").Replace(p)
		run("page "+p, chromedp.Navigate(base+p), chromedp.WaitVisible(chromedp.CSS("main h1")), browsertest.FullScreenshot(dir, name))
	}

	// A rollout's page updates live: a pause made elsewhere shows without
	// a reload.
	run("live view", chromedp.Navigate(base+"/ui/rollouts/"+live), chromedp.WaitVisible(chromedp.CSS("#stages")),
		chromedp.WaitVisible(chromedp.CSS("#pause")), chromedp.WaitVisible(chromedp.CSS("svg.chart")), browsertest.FullScreenshot(dir, "10-rollout-waiting"))
	f.as(patchpilot.RoleOperator, "POST", "/api/v1/rollouts/"+live+"/pause", "", http.StatusOK)
	run("live update", chromedp.WaitVisible(chromedp.CSS("#resume")), browsertest.FullScreenshot(dir, "11-rollout-paused-live"))
	if liveState := text("#rollout-state"); liveState != "paused" {
		t.Errorf("live state = %q; want paused", liveState)
	}

	// Approve as an approver.
	run("approve", chromedp.Navigate(base+"/ui/rollouts/"+byOperator), chromedp.WaitVisible(chromedp.CSS("#approve")),
		chromedp.Click(chromedp.CSS("#approve")), chromedp.WaitVisible(chromedp.CSS(".flash")),
		browsertest.FullScreenshot(dir, "12-approved"))
	if flash := text(".flash"); !strings.Contains(flash, "stage first approved") {
		t.Errorf("after approving: %q", flash)
	}

	// Approving one's own rollout is refused on its page.
	run("four-eyes", chromedp.Navigate(base+"/ui/rollouts/"+byApprover), chromedp.WaitVisible(chromedp.CSS("#approve")),
		chromedp.Click(chromedp.CSS("#approve")), chromedp.WaitVisible(chromedp.CSS("#error")),
		browsertest.FullScreenshot(dir, "13-four-eyes-refused"))
	if refusal := text("#error"); !strings.Contains(refusal, "four-eyes") {
		t.Errorf("self-approval shows %q", refusal)
	}

	// A form posted without its CSRF token is refused and changes nothing.
	run("csrf", chromedp.Navigate(base+"/ui/rollouts/"+byApprover), chromedp.WaitVisible(chromedp.CSS("#pause")),
		browsertest.Evaluate(`document.querySelector("#pause").form.querySelector("input[name=csrf]").remove()`),
		chromedp.Click(chromedp.CSS("#pause")), chromedp.WaitVisible(chromedp.CSS("#error")),
		browsertest.FullScreenshot(dir, "14-csrf-refused"))
	if refused := text("#error"); !strings.Contains(refused, "CSRF") {
		t.Errorf("a form without its CSRF token shows %q", refused)
	}
	if st, _ := f.app.RolloutStatus(f.ctx, byApprover); st.State != patchpilot.RolloutWaitingApproval {
		t.Errorf("the refused pause changed the rollout: %s", st.State)
	}
}
