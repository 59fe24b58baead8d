package sqlite_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/storetest"
)

// BenchmarkSaveFacts measures saving one snapshot of a typical server:
// 2000 installed packages and 20 pending updates.
func BenchmarkSaveFacts(b *testing.B) {
	ctx := context.Background()
	db := openTemp(b)
	defer db.Close()
	const hosts = 50
	var list []patchpilot.Host
	for i := range hosts {
		list = append(list, patchpilot.Host{Name: fmt.Sprintf("host-%02d", i)})
	}
	if err := db.UpsertHosts(ctx, list); err != nil {
		b.Fatal(err)
	}
	facts := make([]patchpilot.Facts, hosts)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, h := range list {
		facts[i] = storetest.Facts(h.Name, base, 2000, 20)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		f := facts[i%hosts]
		f.CollectedAt = base.Add(time.Duration(i) * time.Second)
		if err := db.SaveFacts(ctx, f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSaveFactsParallel is BenchmarkSaveFacts with writers on every
// core, as a collection run across the fleet does.
func BenchmarkSaveFactsParallel(b *testing.B) {
	ctx := context.Background()
	db := openTemp(b)
	defer db.Close()
	if err := db.UpsertHosts(ctx, []patchpilot.Host{{Name: "h"}}); err != nil {
		b.Fatal(err)
	}
	f := storetest.Facts("h", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 2000, 20)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := db.SaveFacts(ctx, f); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
