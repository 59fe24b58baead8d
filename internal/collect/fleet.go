package collect

import (
	"context"
	"sync"
	"time"

	"github.com/patchpilot/patchpilot"
)

// DefaultConcurrency is how many hosts Fleet collects at once by default.
// Collection mostly waits on the network, so it is far above the core
// count; one connection per host keeps it within sshd's and the
// controller's limits.
const DefaultConcurrency = 50

// FleetOptions tune a fleet collection.
type FleetOptions struct {
	Options
	// Concurrency bounds how many hosts are collected at once; 0 means
	// DefaultConcurrency.
	Concurrency int
}

// HostResult is the outcome of collecting one host: Facts when Err is nil.
type HostResult struct {
	Host     patchpilot.Host
	Facts    patchpilot.Facts
	Err      error
	Duration time.Duration
}

// Fleet collects every host, at most opts.Concurrency at a time, with one
// Dial per host and the runner closed afterwards. One host's failure never
// stops the others. When ctx is cancelled no further host is started;
// hosts never started get an ECANCELED result. progress, if not nil, is
// called once per host as it finishes, never concurrently. Results come
// back in the order of hosts.
func Fleet(ctx context.Context, d patchpilot.Dialer, hosts []patchpilot.Host, opts FleetOptions, progress func(HostResult)) []HostResult {
	results := make([]HostResult, len(hosts))
	each(ctx, d, hosts, opts, func(i int, res HostResult) {
		results[i] = res
		if progress != nil {
			progress(res)
		}
	})
	return results
}

// Each collects every host as Fleet does and hands each result to fn as
// it finishes, never concurrently, keeping none: what a collection holds
// at once is the hosts in flight and what fn keeps, whatever the fleet's
// size. A host's collection holds its place among the opts.Concurrency
// until fn returns for it, so a slow fn slows the collection rather than
// letting results pile up.
func Each(ctx context.Context, d patchpilot.Dialer, hosts []patchpilot.Host, opts FleetOptions, fn func(HostResult)) {
	each(ctx, d, hosts, opts, func(_ int, res HostResult) { fn(res) })
}

// each is Each with the index of each result's host in hosts.
func each(ctx context.Context, d patchpilot.Dialer, hosts []patchpilot.Host, opts FleetOptions, fn func(int, HostResult)) {
	limit := opts.Concurrency
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	if opts.Shared == nil {
		opts.Shared = NewShared()
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex // serialises fn's calls
		tokens = make(chan struct{}, limit)
	)
	report := func(i int, res HostResult) {
		mu.Lock()
		defer mu.Unlock()
		fn(i, res)
	}
	for i, h := range hosts {
		started := false
		select {
		case <-ctx.Done():
		case tokens <- struct{}{}:
			started = ctx.Err() == nil
			if !started {
				<-tokens
			}
		}
		if !started {
			for j := i; j < len(hosts); j++ {
				report(j, HostResult{Host: hosts[j], Err: patchpilot.Errorf(patchpilot.ECANCELED, "collection of %s not started: %w", hosts[j].Name, ctx.Err())})
			}
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-tokens }()
			report(i, collectOne(ctx, d, h, opts.Options))
		}()
	}
	wg.Wait()
}

func collectOne(ctx context.Context, d patchpilot.Dialer, h patchpilot.Host, opts Options) HostResult {
	start := time.Now()
	res := HostResult{Host: h}
	r, err := d.Dial(ctx, h)
	if err != nil {
		res.Err, res.Duration = err, time.Since(start)
		return res
	}
	res.Facts, res.Err = Host(ctx, r, h.Name, opts)
	// The facts were read in full by now; a failed close loses nothing,
	// so it does not turn a good collection into a failure.
	_ = r.Close()
	res.Duration = time.Since(start)
	return res
}
