package app

import (
	"context"
	"os"
	"testing"
)

// BenchmarkHostSummaries lists the hosts with their last collection
// failures, as the host list and GET /api/v1/hosts do, over the store
// named by PP_BENCH_STORE (a copy: opening it may migrate it), after one
// call that fills what the app keeps. Without the variable it is skipped:
// the figures are those of a large fleet's store and its event log.
func BenchmarkHostSummaries(b *testing.B) {
	path := os.Getenv("PP_BENCH_STORE")
	if path == "" {
		b.Skip("PP_BENCH_STORE names no store")
	}
	ctx := context.Background()
	a, err := New(ctx, Options{DBPath: path, Env: []string{"HOME=" + b.TempDir()}})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	if _, err := a.HostSummaries(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.HostSummaries(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
