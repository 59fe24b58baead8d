package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
	"github.com/patchpilot/patchpilot/internal/storetest/seed"
)

// scalePath is one page or API call measured over the seeded store. In
// path, {host}, {rollout}, {live}, {package} and {since} stand for a host
// with pending updates, the rollout with the most hosts, a rollout still
// running, a package that rollouts patched, and 30 days before the end of
// the seeded history.
type scalePath struct {
	name string
	path string
}

// scalePaths are the pages and API calls BenchmarkAPIAtScale measures. A
// page of the dashboard is measured by adding its path here.
var scalePaths = []scalePath{
	{"hosts", "/api/v1/hosts"},
	{"host", "/api/v1/hosts/{host}"},
	{"updates", "/api/v1/updates"},
	{"updates_host", "/api/v1/updates?host={host}"},
	{"updates_security", "/api/v1/updates?security=true"},
	{"rollouts", "/api/v1/rollouts"},
	{"rollouts_limit", "/api/v1/rollouts?limit=20"},
	{"rollouts_running", "/api/v1/rollouts?state=running"},
	{"rollout", "/api/v1/rollouts/{rollout}"},
	{"rollout_live", "/api/v1/rollouts/{live}"},
	{"rollout_events", "/api/v1/rollouts/{rollout}/events"},
	{"history", "/api/v1/history"},
	{"history_host", "/api/v1/history?host={host}"},
	{"history_package", "/api/v1/history?package={package}&limit=100"},
	{"compliance", "/api/v1/compliance"},
	{"kpis", "/api/v1/kpis?since={since}"},
	{"metrics", "/metrics"},
	// The dashboard's pages, read with the token as a bearer token.
	{"ui_overview", "/ui/"},
	{"ui_hosts", "/ui/hosts"},
	{"ui_host", "/ui/hosts/{host}"},
	{"ui_updates", "/ui/updates"},
	{"ui_rollouts", "/ui/rollouts"},
	{"ui_rollout", "/ui/rollouts/{rollout}"},
	{"ui_rollout_live", "/ui/rollouts/{live}"},
	{"ui_rollout_fragment", "/ui/rollouts/{live}/live"},
	{"ui_history", "/ui/history"},
	{"ui_kpis", "/ui/kpis"},
}

// scaleEnv is the server over the seeded store, shared by the
// sub-benchmarks of one run.
type scaleEnv struct {
	ts    *httptest.Server
	dir   string // the copy of the seeded store, removed by TestMain
	token string
	sum   seed.Summary
	err   error
}

var (
	scaleOnce sync.Once
	scale     scaleEnv
)

// scaleConfig is the seed's size: seed.Scale (10,000 hosts, 1,000
// rollouts, 1,000,000 events) unless PATCHPILOT_BENCH_SCALE names another,
// as "hosts=1000,rollouts=100,events=100000" (seed.FromEnv).
func scaleConfig() (seed.Config, error) { return seed.FromEnv() }

// setupScale seeds (or finds in the cache) the store, copies it, and
// serves it through the real handler with a viewer's token. It lives
// until the test binary exits: the sub-benchmarks share it.
func setupScale(b *testing.B) *scaleEnv {
	scaleOnce.Do(func() {
		scale.err = func() error {
			ctx := context.Background()
			c, err := scaleConfig()
			if err != nil {
				return err
			}
			began := time.Now()
			path, sum, err := seed.Cached(ctx, c)
			if err != nil {
				return err
			}
			fmt.Printf("seeded store %s (%d hosts, %d rollouts, %d events): seeding took %s, ready in %s\n",
				path, sum.Hosts, sum.Rollouts, sum.Events, sum.Took.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
			dir, err := os.MkdirTemp("", "patchpilot-scale-bench-")
			if err != nil {
				return err
			}
			scale.dir = dir
			// The copy takes the token and any audit entries, so that the
			// cached store stays as seeded.
			db := filepath.Join(dir, "pp.db")
			if err := seed.Copy(path, db); err != nil {
				return err
			}
			end := sum.Config.End
			a, err := app.New(ctx, app.Options{DBPath: db, Env: []string{"HOME=" + dir, "USER=bench"},
				Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return end }})
			if err != nil {
				return err
			}
			secret, _, err := a.CreateToken(ctx, "bench", patchpilot.RoleViewer, "user:bench")
			if err != nil {
				return err
			}
			srv, err := New(Options{App: a, People: a, Plans: a, NewController: func(eo app.EngineOptions) Controller {
				eo.Dialer = downDialer{}
				return AppController{C: a.Controller(eo)}
			}})
			if err != nil {
				return err
			}
			scale.ts = httptest.NewServer(srv.Handler())
			scale.token, scale.sum = secret, sum
			return nil
		}()
	})
	if scale.err != nil {
		b.Fatal(scale.err)
	}
	return &scale
}

// expand fills a scalePath's placeholders from the seed's summary.
func (e *scaleEnv) expand(path string) string {
	since := e.sum.Config.End.Add(-30 * 24 * time.Hour).UTC().Format(time.RFC3339)
	return strings.NewReplacer("{host}", url.PathEscape(e.sum.Host), "{rollout}", url.PathEscape(e.sum.BusyRollout),
		"{live}", url.PathEscape(e.sum.LiveRollout), "{package}", url.QueryEscape(e.sum.Package),
		"{since}", url.QueryEscape(since)).Replace(path)
}

// get fetches a path with the token and returns how many bytes came back.
func (e *scaleEnv) get(path string) (int64, error) {
	req, err := http.NewRequest("GET", e.ts.URL+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	res, err := e.ts.Client().Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	n, err := io.Copy(io.Discard, res.Body)
	if err != nil {
		return n, err
	}
	if res.StatusCode != http.StatusOK {
		return n, fmt.Errorf("GET %s: status %d", path, res.StatusCode)
	}
	return n, nil
}

// BenchmarkAPIAtScale serves each of scalePaths over a store of 10,000
// hosts, 1,000 rollouts and 1,000,000 events (seed.Scale), through the
// real handler with a real token, and reports the time per request and
// the size of the answer. The seeded store is cached (seed.CacheDir);
// docs/benchmarks.md tells how to run it and clear the cache.
func BenchmarkAPIAtScale(b *testing.B) {
	e := setupScale(b)
	for _, p := range scalePaths {
		path := e.expand(p.path)
		b.Run(p.name, func(b *testing.B) {
			var size int64
			for b.Loop() {
				n, err := e.get(path)
				if err != nil {
					b.Fatal(err)
				}
				size = n
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
			b.ReportMetric(float64(size), "bytes/resp")
		})
	}
}

// TestMain removes the benchmarks' copy of the seeded store (a gigabyte at
// full scale) when the test binary is done.
func TestMain(m *testing.M) {
	code := m.Run()
	if scale.dir != "" {
		if scale.ts != nil {
			scale.ts.Close()
		}
		os.RemoveAll(scale.dir)
	}
	os.Exit(code)
}
