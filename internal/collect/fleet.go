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
	limit := opts.Concurrency
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	if opts.Shared == nil {
		opts.Shared = NewShared()
	}
	results := make([]HostResult, len(hosts))
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex // serialises progress calls
		tokens = make(chan struct{}, limit)
	)
	report := func(res HostResult) {
		if progress == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		progress(res)
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
				results[j] = HostResult{Host: hosts[j], Err: patchpilot.Errorf(patchpilot.ECANCELED, "collection of %s not started: %w", hosts[j].Name, ctx.Err())}
				report(results[j])
			}
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-tokens }()
			results[i] = collectOne(ctx, d, h, opts.Options)
			report(results[i])
		}()
	}
	wg.Wait()
	return results
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
