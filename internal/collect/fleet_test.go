package collect

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/local"
)

// countingDialer hands out local runners and counts the hosts between
// Dial and Close. Hosts named "down" fail to dial. The apt simulation,
// which costs two CPU seconds on this machine, is answered by printing
// the recorded transcript instead, so that many hosts stay cheap; every
// other command runs for real.
type countingDialer struct {
	inFlight, max, dials, closes atomic.Int32
	hold                         time.Duration
}

func (d *countingDialer) Dial(ctx context.Context, h patchpilot.Host) (patchpilot.Runner, error) {
	if h.Name == "down" {
		return nil, patchpilot.Errorf(patchpilot.EUNREACHABLE, "dial %s: connection refused", h.Name)
	}
	d.dials.Add(1)
	n := d.inFlight.Add(1)
	for {
		m := d.max.Load()
		if n <= m || d.max.CompareAndSwap(m, n) {
			break
		}
	}
	return &countedRunner{d: d, r: local.New()}, nil
}

type countedRunner struct {
	d    *countingDialer
	r    *local.Runner
	once sync.Once
}

func (c *countedRunner) Run(ctx context.Context, cmd patchpilot.Command) (patchpilot.Result, error) {
	if cmd.Args[0] == "apt-get" {
		cmd = patchpilot.Command{Args: []string{"cat", "../osfamily/debian/testdata/debian12-vm/updates.out"}}
		// Keep the host in flight long enough to overlap with others.
		select {
		case <-time.After(c.d.hold):
		case <-ctx.Done():
		}
	}
	return c.r.Run(ctx, cmd)
}

func (c *countedRunner) Close() error {
	c.once.Do(func() {
		c.d.inFlight.Add(-1)
		c.d.closes.Add(1)
	})
	return nil
}

func TestFleetConcurrency(t *testing.T) {
	needDebian(t)
	var hosts []patchpilot.Host
	for i := range 9 {
		hosts = append(hosts, patchpilot.Host{Name: fmt.Sprintf("h%d", i)})
	}
	hosts = append(hosts, patchpilot.Host{Name: "down"})
	d := &countingDialer{hold: 150 * time.Millisecond}
	var progress []string
	results := Fleet(context.Background(), d, hosts, FleetOptions{Concurrency: 3, Options: Options{Source: "local"}}, func(r HostResult) {
		progress = append(progress, r.Host.Name) // Fleet serialises these calls
	})

	if got := d.max.Load(); got != 3 {
		t.Errorf("max hosts in flight = %d, want exactly the concurrency 3", got)
	}
	if d.dials.Load() != 9 || d.closes.Load() != 9 {
		t.Errorf("dials %d, closes %d: want 9 and 9", d.dials.Load(), d.closes.Load())
	}
	if len(results) != len(hosts) || len(progress) != len(hosts) {
		t.Fatalf("%d results, %d progress calls, want %d", len(results), len(progress), len(hosts))
	}
	for i, r := range results {
		if r.Host.Name != hosts[i].Name {
			t.Errorf("result %d is for %s, want %s", i, r.Host.Name, hosts[i].Name)
		}
		if r.Host.Name == "down" {
			if patchpilot.ErrorCode(r.Err) != patchpilot.EUNREACHABLE {
				t.Errorf("down: error %v, want %s", r.Err, patchpilot.EUNREACHABLE)
			}
			continue
		}
		if r.Err != nil || r.Facts.Host != r.Host.Name || len(r.Facts.Packages) == 0 || len(r.Facts.Updates) != 121 || r.Duration <= 0 {
			t.Errorf("%s: err %v, host %q, %d packages, %d updates, took %v", r.Host.Name, r.Err, r.Facts.Host, len(r.Facts.Packages), len(r.Facts.Updates), r.Duration)
		}
	}
}

func TestFleetCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := &countingDialer{}
	hosts := []patchpilot.Host{{Name: "a"}, {Name: "b"}}
	results := Fleet(ctx, d, hosts, FleetOptions{}, nil)
	if d.dials.Load() != 0 {
		t.Errorf("%d dials after cancellation, want 0", d.dials.Load())
	}
	for _, r := range results {
		if patchpilot.ErrorCode(r.Err) != patchpilot.ECANCELED {
			t.Errorf("%s: error %v, want %s", r.Host.Name, r.Err, patchpilot.ECANCELED)
		}
	}
}

// TestFleetStopsDispatching cancels while the first hosts are in flight:
// they finish or fail, and the rest are never dialled.
func TestFleetStopsDispatching(t *testing.T) {
	needDebian(t)
	ctx, cancel := context.WithCancel(context.Background())
	d := &countingDialer{hold: 2 * time.Second}
	var hosts []patchpilot.Host
	for i := range 6 {
		hosts = append(hosts, patchpilot.Host{Name: fmt.Sprintf("h%d", i)})
	}
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	results := Fleet(ctx, d, hosts, FleetOptions{Concurrency: 2}, nil)
	if took := time.Since(start); took > time.Second {
		t.Errorf("Fleet took %v after cancellation", took)
	}
	if got := d.dials.Load(); got != 2 {
		t.Errorf("%d hosts dialled, want only the first 2", got)
	}
	for _, r := range results {
		if patchpilot.ErrorCode(r.Err) != patchpilot.ECANCELED {
			t.Errorf("%s: error %v, want %s", r.Host.Name, r.Err, patchpilot.ECANCELED)
		}
	}
}
