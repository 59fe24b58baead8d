package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/patchpilot/patchpilot/internal/browsertest"
	"github.com/patchpilot/patchpilot/internal/lab"
)

// TestDashboardLiveOnTheLab: the dashboard in a real headless Chromium
// against 'patchpilot server' driving a real rollout on three lab hosts.
// An operator starts the rollout through the API; its first stage waits
// for an approval. Approver A, logged in to the dashboard, approves it on
// the rollout's page and then, without a reload, sees the hosts' states
// change as the server drives the stages on to the end. A then rolls one
// host of the finished rollout back from its page and sees that live too.
// Approver B, who then started a second rollout over that host, is
// refused approving it on its page by the four-eyes rule, and sees it
// aborted live when the operator aborts it through the API. Screenshots
// of the live view before, during and after go to $PATCHPILOT_SCREENSHOTS
// (or a new temporary folder, kept and named in the test's output when it
// fails).
func TestDashboardLiveOnTheLab(t *testing.T) {
	needRoot(t)
	exe := browsertest.Chromium(t)
	began := time.Now()
	rl := bootLab(t, lab.Options{Hosts: 3, Subnet: rolloutLabSubnet})
	t.Logf("lab up in %s", time.Since(began).Round(time.Second))
	hosts := []string{"lab01", "lab02", "lab03"}
	e := rl.env(t, hosts...)

	// Tokens for an operator and two approvers, made before the server
	// starts on the same database.
	tok := map[string]string{}
	for _, p := range [][2]string{{"operator", "operator"}, {"approver-a", "approver"}, {"approver-b", "approver"}} {
		tok[p[0]] = decodeJSON[struct {
			Secret string `json:"secret"`
		}](t, e.mustRun("token", "create", p[0], "--role", p[1], "-o", "json")).Secret
	}
	srv := e.background("server", "--listen", "127.0.0.1:0", "--known-hosts", rl.lab.KnownHostsFile(),
		"--check-interval", "1s", "--connect-timeout", "5s", "--schedules=false")
	api := &labAPI{t: t, url: serverURL(t, srv), srv: srv}

	// The operator starts the rollout: its first stage waits for a
	// person; the later ones bake long enough to be seen moving.
	plan, err := os.ReadFile(labPlan(t, "pp-demo-web=1.1.0", hosts, "",
		"{name: validation, targets: 1, "+labCriteria+", bake: 2s, timeout: 3m, approval: required}",
		"{name: canary, targets: 1, "+labCriteria+", bake: 10s, timeout: 3m}",
		"{name: rest, targets: rest, "+labCriteria+", bake: 10s, timeout: 3m}"))
	if err != nil {
		t.Fatal(err)
	}
	first := api.start(tok["operator"], string(plan))
	st := api.waitFor(tok["operator"], first, "the first stage to wait for an approval", func(st rolloutStatus) bool {
		return st.State == "waiting_approval"
	})
	order := map[string][]string{}
	for _, s := range []string{"validation", "canary", "rest"} {
		if order[s] = st.stageHosts(s); len(order[s]) != 1 {
			t.Fatalf("stage %s has hosts %v; want one host per stage of %v", s, order[s], hosts)
		}
	}
	validation, canary, rest := order["validation"][0], order["canary"][0], order["rest"][0]
	for _, h := range hosts {
		if v := rl.version(h, "pp-demo-web"); v != "1.0.0" {
			t.Fatalf("%s has pp-demo-web %s before the approval; want 1.0.0", h, v)
		}
	}
	dir := browsertest.ScreenshotDir(t, "patchpilot-live-lab-", "the live view")
	b := newLabBrowser(t, exe, api)

	// Approver A opens the waiting rollout and approves it on its page.
	b.login(tok["approver-a"])
	b.do("open the waiting rollout", chromedp.Navigate(api.url+"/ui/rollouts/"+first),
		chromedp.WaitVisible(chromedp.CSS(`li.stage[data-stage="validation"][data-state="waiting_approval"]`)),
		chromedp.WaitVisible(chromedp.CSS("#approve")), b.shot(dir, "01-waiting-approval"))
	b.submit("approve", "#approve", http.StatusOK)
	if flash := b.text(".flash"); !strings.Contains(flash, "stage validation approved") {
		t.Errorf("after approving, the page says %q; want \"stage validation approved\"", flash)
	}
	// From here the page is not loaded again: a marker set on this
	// document stays as long as it is not reloaded, and every state a
	// host shows on it is recorded as the live part is swapped in.
	b.do("watch the page", browsertest.Evaluate(`(function () {
		window.ppSameDocument = true;
		window.ppSeen = {};
		window.ppSwaps = 0;
		var live = document.getElementById("live");
		function record() {
			live.querySelectorAll("tr[data-host]").forEach(function (r) {
				var seen = window.ppSeen[r.getAttribute("data-host")] = window.ppSeen[r.getAttribute("data-host")] || [];
				if (seen[seen.length - 1] !== r.getAttribute("data-state")) {
					seen.push(r.getAttribute("data-state"));
				}
			});
		}
		record();
		new MutationObserver(function () { window.ppSwaps++; record(); }).observe(live, { childList: true });
	})()`))

	// During: the validation host is done while the rollout runs on.
	b.wait("the validation host to succeed while the rollout runs",
		fmt.Sprintf(`window.ppSameDocument && document.getElementById("rollout-state").getAttribute("data-state") === "running" &&
			%s === "succeeded"`, hostState(validation)), 5*time.Minute)
	b.do("screenshot during", b.shot(dir, "02-canary-running"))
	b.wait("the canary host to succeed while the rollout runs",
		fmt.Sprintf(`window.ppSameDocument && document.getElementById("rollout-state").getAttribute("data-state") === "running" &&
			%s === "succeeded"`, hostState(canary)), 5*time.Minute)
	b.do("screenshot of the canary stage", b.shot(dir, "03-rest-running"))

	// After: the rollout succeeded on the same document.
	b.wait("the rollout to succeed on the page", `window.ppSameDocument &&
		document.getElementById("rollout-state").getAttribute("data-state") === "succeeded" &&
		Array.from(document.querySelectorAll("#live tr[data-host]")).every(function (r) { return r.getAttribute("data-state") === "succeeded"; })`,
		5*time.Minute)
	b.do("screenshot after", b.shot(dir, "04-succeeded"), browsertest.FullScreenshot(dir, "04-succeeded-full"))
	seen := evalIn[map[string][]string](b, `window.ppSeen`)
	swaps := evalIn[int](b, `window.ppSwaps`)
	updated := b.attr("#live", "data-updated")
	t.Logf("the page swapped its live part in %d times; host states it showed: %v", swaps, seen)
	// The rest host's stage began after the canary's bake, long after
	// the page was loaded: it was pending then. The canary host began
	// after the validation host's apply and bake.
	if s := seen[rest]; len(s) < 2 || s[0] != "pending" || s[len(s)-1] != "succeeded" {
		t.Errorf("%s showed %v on the page; want pending first and succeeded last, without a reload", rest, s)
	}
	if s := seen[canary]; len(s) < 2 || s[len(s)-1] != "succeeded" {
		t.Errorf("%s showed %v on the page; want its state to change to succeeded, without a reload", canary, s)
	}
	if swaps < 3 || updated == "" {
		t.Errorf("the live part was swapped in %d times (data-updated %q); want the script to have refreshed it at each stage", swaps, updated)
	}
	if stages := b.text("#stages"); !strings.Contains(stages, "approved by token:approver-a") {
		t.Errorf("the stages do not name approver A as the validation stage's approver:\n%s", stages)
	}
	// The page said what the server and the hosts say.
	if st := api.status(tok["operator"], first); st.State != "succeeded" {
		t.Errorf("the API says rollout %s is %s (%s); the page showed succeeded", first, st.State, st.Reason)
	}
	for _, h := range hosts {
		if v := rl.version(h, "pp-demo-web"); v != "1.1.0" {
			t.Errorf("%s has pp-demo-web %s after the rollout; want 1.1.0", h, v)
		}
	}

	// The finished rollout can still be rolled back: the form came with
	// the live part once the rollout succeeded. Approver A (who may do
	// what an operator may) rolls the last host back and sees it live.
	b.do("name a host to roll back", chromedp.WaitVisible(chromedp.CSS("#rollback")),
		chromedp.SendKeys(chromedp.CSS(`input[name="hosts"]`), rest))
	b.submit("roll back", "#rollback", http.StatusOK)
	if flash := b.text(".flash"); !strings.Contains(flash, "rollback requested for 1 host: "+rest) {
		t.Errorf("after rolling back, the page says %q", flash)
	}
	b.do("mark the rollback's page", browsertest.Evaluate(`window.ppSameDocument = true`))
	b.wait("the host to be rolled back on the page", fmt.Sprintf(`window.ppSameDocument && %s === "rolled_back" &&
		document.getElementById("rollout-state").getAttribute("data-state") !== "rolling_back"`, hostState(rest)), 5*time.Minute)
	b.do("screenshot of the rollback", b.shot(dir, "05-rolled-back"))
	if v := rl.version(rest, "pp-demo-web"); v != "1.0.0" || !rl.healthy(rest) {
		t.Errorf("%s after the rollback from the page: pp-demo-web %s, healthy %v; want 1.0.0 and healthy", rest, v, rl.healthy(rest))
	}
	for _, h := range []string{validation, canary} {
		if v := rl.version(h, "pp-demo-web"); v != "1.1.0" {
			t.Errorf("%s was not named in the rollback, yet has pp-demo-web %s", h, v)
		}
	}
	st = api.status(tok["operator"], first)
	t.Logf("after the rollback of %s rollout %s is %s (%s)", rest, first, st.State, st.Reason)

	// Approver B starts a second rollout over the rolled-back host, which
	// waits for an approval B may not give. It starts only now: a host is
	// in one unfinished rollout at a time, and the first rollout held
	// this one until its rollback ended.
	ownPlan, err := os.ReadFile(labPlan(t, "pp-demo-web=1.1.0", []string{rest}, "",
		"{name: only, targets: rest, "+labCriteria+", bake: 1s, timeout: 3m, approval: required}"))
	if err != nil {
		t.Fatal(err)
	}
	second := api.start(tok["approver-b"], string(ownPlan))
	api.waitFor(tok["operator"], second, "the second rollout to wait for an approval", func(st rolloutStatus) bool {
		return st.State == "waiting_approval"
	})

	// Approver B may not approve the rollout B started.
	b.submit("log out", `form[action="/ui/logout"] button`, http.StatusOK)
	b.login(tok["approver-b"])
	b.do("open B's rollout", chromedp.Navigate(api.url+"/ui/rollouts/"+second), chromedp.WaitVisible(chromedp.CSS("#approve")))
	b.submit("four-eyes", "#approve", http.StatusForbidden)
	b.do("screenshot of the refusal", chromedp.WaitVisible(chromedp.CSS("#error")), b.shot(dir, "06-four-eyes-refused"))
	if refusal := b.text("#error"); !strings.Contains(refusal, "four-eyes") || !strings.Contains(refusal, "token:approver-b") {
		t.Errorf("approving one's own rollout shows %q; want the four-eyes refusal naming token:approver-b", refusal)
	}
	if st := api.status(tok["operator"], second); st.State != "waiting_approval" {
		t.Errorf("the refused approval changed rollout %s: %s", second, st.State)
	}
	// The refusal's page is live too: the operator's abort through the
	// API shows on it.
	b.do("mark the refusal's page", browsertest.Evaluate(`window.ppSameDocument = true`))
	api.call(tok["operator"], "POST", "/api/v1/rollouts/"+second+"/abort", "", http.StatusOK)
	b.wait("the abort to show on the page", `window.ppSameDocument &&
		document.getElementById("rollout-state").getAttribute("data-state") === "aborted"`, 3*time.Minute)
	b.do("screenshot of the abort", b.shot(dir, "07-aborted-live"))
	if v := rl.version(rest, "pp-demo-web"); v != "1.0.0" {
		t.Errorf("the aborted rollout changed %s: pp-demo-web %s", rest, v)
	}
	t.Logf("the whole test took %s", time.Since(began).Round(time.Second))
}

// hostState is a script expression: the state a host's row shows on a
// rollout's page.
func hostState(host string) string {
	return fmt.Sprintf(`document.querySelector('#live tr[data-host="%s"]').getAttribute("data-state")`, host)
}

// serverURL waits for a background 'patchpilot server' to print where it
// serves.
func serverURL(t *testing.T, srv *background) string {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; {
		for _, line := range strings.Split(srv.stderrText(), "\n") {
			if u, ok := strings.CutPrefix(line, "serving on "); ok {
				return strings.TrimSpace(u)
			}
		}
		select {
		case <-srv.done:
			t.Fatalf("the server exited %d:\n%s", srv.code, srv.stderrText())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server printed no address:\n%s", srv.stderrText())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// labAPI calls a server's API with a token.
type labAPI struct {
	t   *testing.T
	url string
	srv *background
}

// call makes a request and fails the test unless it answers want.
func (a *labAPI) call(token, method, path, body string, want int) []byte {
	a.t.Helper()
	req, err := http.NewRequest(method, a.url+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	out, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != want {
		a.t.Fatalf("%s %s: %d %s (%v); want %d\nserver:\n%s", method, path, res.StatusCode, out, err, want, a.srv.stderrText())
	}
	return out
}

// start starts a rollout of a plan's YAML and returns its id.
func (a *labAPI) start(token, plan string) string {
	a.t.Helper()
	body, err := json.Marshal(map[string]string{"plan": plan})
	if err != nil {
		a.t.Fatal(err)
	}
	st := decodeJSON[rolloutStatus](a.t, string(a.call(token, "POST", "/api/v1/rollouts", string(body), http.StatusCreated)))
	if st.ID == "" {
		a.t.Fatal("POST /api/v1/rollouts answered no id")
	}
	return st.ID
}

func (a *labAPI) status(token, id string) rolloutStatus {
	a.t.Helper()
	return decodeJSON[rolloutStatus](a.t, string(a.call(token, "GET", "/api/v1/rollouts/"+id, "", http.StatusOK)))
}

// waitFor polls a rollout's status through the API until cond holds.
func (a *labAPI) waitFor(token, id, what string, cond func(rolloutStatus) bool) rolloutStatus {
	a.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		st := a.status(token, id)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("timed out waiting for %s; rollout %s is %s (%s): %v\nserver:\n%s", what, id, st.State, st.Reason, st.hostStates(), a.srv.stderrText())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// labBrowser is a headless Chromium on the dashboard.
type labBrowser struct {
	t   *testing.T
	ctx context.Context
	api *labAPI
}

// newLabBrowser starts a headless Chromium with a 1280 pixels wide
// window, the width of the documentation's screenshots.
func newLabBrowser(t *testing.T, exe string, api *labAPI) *labBrowser {
	t.Helper()
	return &labBrowser{t: t, ctx: browsertest.Headless(t, exe, 1280, 1000), api: api}
}

// do runs the actions of a step. The step is bounded only so that a
// broken run ends; the actions wait for what the page shows.
func (b *labBrowser) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 3*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v\npage:\n%s", step, err, b.pageText())
	}
}

// submit clicks a form's button and waits for the page it leads to
// (after any redirect), which must answer status: waiting for the new
// page rather than for an element keeps the old page's flash or error
// from being read as the new one's.
func (b *labBrowser) submit(step, button string, status int64) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 3*time.Minute)
	defer cancel()
	res, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(button)))
	if err != nil {
		b.t.Fatalf("%s: %v\npage:\n%s", step, err, b.pageText())
	}
	if res.Status != status {
		b.t.Fatalf("%s: the page answered %d %s; want %d\npage:\n%s", step, res.Status, res.URL, status, b.pageText())
	}
}

// wait polls a script predicate in the page until it holds.
func (b *labBrowser) wait(what, predicate string, timeout time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+time.Minute)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](predicate, chromedp.WithPollingInterval(200*time.Millisecond),
		chromedp.WithPollingTimeout(timeout))); err != nil {
		b.t.Fatalf("waiting for %s: %v\npage:\n%s\nserver:\n%s", what, err, b.pageText(), b.api.srv.stderrText())
	}
}

// pageText is what the page shows, for a failure's message.
func (b *labBrowser) pageText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.location.href + "\n" + document.body.innerText : ""`))
	if err != nil {
		return fmt.Sprintf("(unreadable: %v)", err)
	}
	return s
}

// evalIn evaluates a script expression in the page.
func evalIn[T any](b *labBrowser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (b *labBrowser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v\npage:\n%s", sel, err, b.pageText())
	}
	return strings.TrimSpace(v)
}

func (b *labBrowser) attr(sel, name string) string {
	b.t.Helper()
	return evalIn[string](b, fmt.Sprintf(`document.querySelector(%q).getAttribute(%q) || ""`, sel, name))
}

// login logs in with a token's secret and waits for the overview.
func (b *labBrowser) login(secret string) {
	b.t.Helper()
	b.do("login", chromedp.Navigate(b.api.url+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), secret),
		chromedp.Submit(chromedp.CSS("#token")), chromedp.WaitVisible(chromedp.CSS("#n-hosts")))
}

// shot writes a PNG screenshot of the window.
func (b *labBrowser) shot(dir, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		png, err := chromedp.CaptureScreenshot()(ctx, t)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	})
}
