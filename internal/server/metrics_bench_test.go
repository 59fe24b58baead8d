package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/patchpilot/patchpilot/internal/app"
)

// BenchmarkMetricsScrape scrapes /metrics over the store named by
// PP_METRICS_BENCH_DB (a copy: opening it may migrate it), as Prometheus
// does, after one scrape that fills the app's kept reads. Without the
// variable it is skipped: the figures are those of a large fleet's store,
// such as one 'ppbench scale' ingested, with its event log.
func BenchmarkMetricsScrape(b *testing.B) {
	path := os.Getenv("PP_METRICS_BENCH_DB")
	if path == "" {
		b.Skip("PP_METRICS_BENCH_DB names no store")
	}
	ctx := context.Background()
	a, err := app.New(ctx, app.Options{DBPath: path, Env: []string{"HOME=" + b.TempDir()}})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	s, err := New(Options{App: a, People: a, Plans: a,
		NewController: func(eo app.EngineOptions) Controller { return AppController{C: a.Controller(eo)} }})
	if err != nil {
		b.Fatal(err)
	}
	scrape := func() {
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if w.Code != http.StatusOK {
			b.Fatalf("metrics: %d %s", w.Code, w.Body)
		}
	}
	scrape()
	b.ResetTimer()
	for b.Loop() {
		scrape()
	}
}
