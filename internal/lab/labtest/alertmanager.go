package labtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// AlertmanagerBinaries are the names Debian's prometheus-alertmanager and
// upstream's release install the daemon as.
var AlertmanagerBinaries = []string{"prometheus-alertmanager", "alertmanager"}

// FindAlertmanager returns the path of the Alertmanager daemon, or an
// error naming the package to install.
func FindAlertmanager() (string, error) {
	for _, name := range AlertmanagerBinaries {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("prometheus-alertmanager not found (install with: apt-get install -y prometheus-alertmanager, or run scripts/deps.sh)")
}

// alertmanagerConfig routes every alert to a receiver that sends nothing:
// the tests read alerts through the API, as the no_firing_alerts gate does.
const alertmanagerConfig = `# Written by a patchpilot test.
route:
  receiver: "null"
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: "null"
`

// Alertmanager is an Alertmanager a test started on loopback.
type Alertmanager struct {
	URL string
	t   testing.TB
}

// StartAlertmanager starts the Debian Alertmanager on a free loopback
// port, with a configuration and storage in the test's temporary
// directory and clustering off, waits until it is ready and stops it when
// the test ends.
func StartAlertmanager(t testing.TB) *Alertmanager {
	t.Helper()
	bin, err := FindAlertmanager()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte(alertmanagerConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	logf, err := os.Create(filepath.Join(dir, "alertmanager.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil && len(b) > 0 {
				t.Logf("alertmanager log:\n%s", b)
			}
		}
	})
	a := &Alertmanager{URL: "http://" + addr, t: t}
	WaitFor(t, "alertmanager ready at "+addr, time.Minute, 100*time.Millisecond, func(ctx context.Context) (bool, string) {
		select {
		case <-done:
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("alertmanager exited:\n%s", b)
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.URL+"/-/ready", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return a
}

// Fire posts an alert, as Prometheus does (POST /api/v2/alerts), firing
// from now for ten minutes, and waits until the API lists it.
func (a *Alertmanager) Fire(labels, annotations map[string]string) {
	a.t.Helper()
	now := time.Now().UTC()
	a.post(labels, annotations, now, now.Add(10*time.Minute))
	a.waitListed(labels, true)
}

// Resolve posts the alert again with its end now, as Prometheus does once
// the rule no longer fires, and waits until the API no longer lists it.
func (a *Alertmanager) Resolve(labels map[string]string) {
	a.t.Helper()
	now := time.Now().UTC()
	a.post(labels, nil, now.Add(-time.Minute), now)
	a.waitListed(labels, false)
}

func (a *Alertmanager) post(labels, annotations map[string]string, start, end time.Time) {
	a.t.Helper()
	body, err := json.Marshal([]map[string]any{{"labels": labels, "annotations": annotations,
		"startsAt": start.Format(time.RFC3339Nano), "endsAt": end.Format(time.RFC3339Nano),
		"generatorURL": "http://patchpilot-test/"}})
	if err != nil {
		a.t.Fatal(err)
	}
	resp, err := http.Post(a.URL+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		a.t.Fatalf("post alert: %s", resp.Status)
	}
}

// waitListed waits until GET /api/v2/alerts lists the alert (active and
// not silenced) or no longer does.
func (a *Alertmanager) waitListed(labels map[string]string, listed bool) {
	a.t.Helper()
	filter := url.Values{}
	for k, v := range labels {
		filter.Add("filter", k+"="+strconv.Quote(v))
	}
	what := "alert " + labels["alertname"] + " listed"
	if !listed {
		what = "alert " + labels["alertname"] + " resolved"
	}
	filter.Set("active", "true")
	WaitFor(a.t, what, time.Minute, 100*time.Millisecond, func(ctx context.Context) (bool, string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.URL+"/api/v2/alerts?"+filter.Encode(), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		var got []json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			return false, err.Error()
		}
		return (len(got) > 0) == listed, fmt.Sprintf("%d alerts", len(got))
	})
}
