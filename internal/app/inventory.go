package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/collect"
	"github.com/patchpilot/patchpilot/internal/inventory"
	"github.com/patchpilot/patchpilot/internal/local"
	"github.com/patchpilot/patchpilot/internal/ssh"
)

// LocalHostName is the inventory name of the controller's own machine when
// it is collected with --local and no name is given.
const LocalHostName = "localhost"

// CollectOptions select what inventory collection does.
type CollectOptions struct {
	// Refresh runs the package manager's metadata refresh (apt-get
	// update, dnf makecache) before looking for updates.
	Refresh bool
	// NoDepth leaves out the collection in depth (services in depth,
	// connections, modified files; Facts.Depth stays nil).
	NoDepth bool
	// Actor is recorded as the actor of the collection's events.
	// Default: "cli".
	Actor string
}

// HostReport is the outcome of collecting one host.
type HostReport struct {
	Host     patchpilot.Host
	Facts    patchpilot.Facts
	Err      error
	Duration time.Duration
}

// CollectReport is the outcome of a collection run.
type CollectReport struct {
	Hosts  []HostReport
	Failed int
}

// Err returns an EPARTIAL error when some hosts failed, nil otherwise.
func (r CollectReport) Err() error {
	if r.Failed == 0 {
		return nil
	}
	return patchpilot.Errorf(patchpilot.EPARTIAL, "%d of %d hosts failed", r.Failed, len(r.Hosts))
}

// LoadInventory reads an inventory file and applies a --limit pattern. The
// warnings say what of the inventory patchpilot ignores (passwords, vaulted
// files).
func (a *App) LoadInventory(path, limit string) (hosts []patchpilot.Host, warnings []string, err error) {
	res, err := inventory.LoadFile(path, inventory.Options{Home: a.Options.Home()})
	if err != nil {
		return nil, nil, err
	}
	hosts = res.Hosts
	if limit != "" {
		if hosts, err = inventory.Limit(hosts, limit); err != nil {
			return nil, nil, err
		}
		if len(hosts) == 0 {
			return nil, nil, patchpilot.Errorf(patchpilot.EINVALID, "--limit %q matches no host of %s", limit, path)
		}
	}
	return hosts, res.Warnings, nil
}

// SSHDialer builds the SSH dialer from the options.
func (a *App) SSHDialer() (patchpilot.Dialer, error) {
	o := a.Options
	sock := o.Getenv("SSH_AUTH_SOCK")
	return ssh.NewDialer(ssh.Options{
		HomeDir:           o.Home(),
		KnownHostsFile:    o.KnownHostsFile,
		AcceptNewHostKeys: o.AcceptNewHostKeys,
		User:              o.SSHUser,
		KeyFiles:          o.SSHKeyFiles,
		UseAgent:          sock != "",
		AgentSocket:       sock,
		JumpHost:          o.JumpHost,
		ConnectTimeout:    o.ConnectTimeout,
		CommandTimeout:    o.CommandTimeout,
		Logger:            o.Logger,
	})
}

// LocalDialer returns a dialer for the controller's own machine: every
// host it is asked for is this machine.
func (a *App) LocalDialer() patchpilot.Dialer {
	return localDialer{timeout: a.Options.CommandTimeout, env: a.Options.Env}
}

type localDialer struct {
	timeout time.Duration
	env     []string
}

var _ patchpilot.Dialer = localDialer{}

func (d localDialer) Dial(context.Context, patchpilot.Host) (patchpilot.Runner, error) {
	return &local.Runner{UID: os.Getuid(), DefaultTimeout: d.timeout, Environ: d.env}, nil
}

// Collect gathers facts from hosts through the dialer, with bounded
// concurrency, and stores each host and its snapshot as soon as it is
// collected: an interrupted run keeps what it already gathered. One host's
// failure never stops the others; it is reported and recorded as an event.
func (a *App) Collect(ctx context.Context, d patchpilot.Dialer, hosts []patchpilot.Host, co CollectOptions, source string, progress func(HostReport)) (CollectReport, error) {
	if len(hosts) == 0 {
		return CollectReport{}, patchpilot.Errorf(patchpilot.EINVALID, "no hosts to collect")
	}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		return CollectReport{}, fmt.Errorf("store hosts: %w", err)
	}
	var (
		mu        sync.Mutex // guards report, storeErr and collected if progress runs concurrently
		report    CollectReport
		storeErr  error
		collected = map[string]time.Time{}
	)
	fo := collect.FleetOptions{
		Concurrency: a.Options.Concurrency,
		Options:     collect.Options{Refresh: co.Refresh, SkipDepth: co.NoDepth, Source: source, Now: a.Options.Now},
	}
	heads := a.previousFacts(ctx)
	previous := previousDepths(heads)
	if !co.NoDepth {
		fo.PreviousDepth = previous
	}
	fo.PreviousUpdates = a.previousUpdates(heads)
	collect.Fleet(ctx, d, hosts, fo, func(r collect.HostResult) {
		mu.Lock()
		defer mu.Unlock()
		hr := HostReport{Host: r.Host, Facts: r.Facts, Err: r.Err, Duration: r.Duration}
		if hr.Err == nil && co.NoDepth && r.Facts.Depth == nil {
			r.Facts.Depth = carriedDepth(previous(r.Host.Name))
			hr.Facts = r.Facts
		}
		if hr.Err == nil {
			if err := a.Store.SaveFacts(ctx, r.Facts); err != nil {
				hr.Err = fmt.Errorf("store facts: %w", err)
				if storeErr == nil {
					storeErr = hr.Err
				}
			} else {
				collected[r.Host.Name] = r.Facts.CollectedAt
			}
		}
		if hr.Err != nil {
			report.Failed++
			data, _ := json.Marshal(patchpilot.CollectFailedData{Code: patchpilot.ErrorCode(hr.Err)})
			_ = a.record(ctx, patchpilot.Event{Actor: co.Actor, Kind: patchpilot.EventCollectFailed, Host: r.Host.Name,
				Message: hr.Err.Error(), Data: data})
		} else {
			data, _ := json.Marshal(patchpilot.FactsCollectedData{Packages: len(r.Facts.Packages), Updates: len(r.Facts.Updates),
				SecurityUpdates: r.Facts.SecurityUpdateCount(), Source: source})
			if err := a.record(ctx, patchpilot.Event{Actor: co.Actor, Kind: patchpilot.EventFactsCollected, Host: r.Host.Name,
				Message: fmt.Sprintf("collected %d packages, %d pending updates", len(r.Facts.Packages), len(r.Facts.Updates)),
				Data:    data}); err != nil && storeErr == nil {
				storeErr = err
			}
		}
		report.Hosts = append(report.Hosts, hr)
		if progress != nil {
			progress(hr)
		}
	})
	a.saveExposures(ctx, collected)
	if len(collected) > 0 && ctx.Err() == nil {
		if err := a.pruneConnections(ctx); err != nil && storeErr == nil {
			storeErr = err
		}
	}
	if storeErr != nil {
		return report, storeErr
	}
	if err := ctx.Err(); err != nil {
		return report, patchpilot.Errorf(patchpilot.ECANCELED, "collection interrupted after %d of %d hosts: %w", len(report.Hosts), len(hosts), err)
	}
	return report, nil
}

// previousDepths returns the depth of each host's latest snapshot, read
// in one pass over the fleet, with when it was read: for a collection in
// depth to compare against, and for one without depth to carry forward. A
// store that cannot say makes every host read everything again (and a
// collection without depth carry nothing).
func previousDepths(heads map[string]patchpilot.Facts) func(string) *patchpilot.HostDepth {
	prev := map[string]*patchpilot.HostDepth{}
	for _, f := range heads {
		if f.Depth != nil {
			d := *f.Depth
			if d.CollectedAt.IsZero() {
				d.CollectedAt = f.CollectedAt
			}
			prev[f.Host] = &d
		}
	}
	return func(host string) *patchpilot.HostDepth { return prev[host] }
}

// previousFacts reads each host's latest facts without their package
// and update lists, in one pass over the fleet; nil when the store cannot
// say.
func (a *App) previousFacts(ctx context.Context) map[string]patchpilot.Facts {
	facts, err := a.Store.FleetFacts(ctx)
	if err != nil {
		return nil
	}
	out := make(map[string]patchpilot.Facts, len(facts))
	for _, f := range facts {
		out[f.Host] = f
	}
	return out
}

// previousUpdates answers a collection's question for the pending
// updates of a host whose package state is state: the host's latest
// facts, read in full, when they were collected in that same state with
// their updates known (see collect.Options.PreviousUpdates).
func (a *App) previousUpdates(heads map[string]patchpilot.Facts) func(context.Context, string, string) (patchpilot.Facts, bool) {
	return func(ctx context.Context, host, state string) (patchpilot.Facts, bool) {
		h, ok := heads[host]
		if !ok || state == "" || h.PackageState != state || !h.UpdatesKnown {
			return patchpilot.Facts{}, false
		}
		f, err := a.Store.LatestFacts(ctx, host)
		if err != nil || f.PackageState != state || !f.UpdatesKnown {
			return patchpilot.Facts{}, false
		}
		return f, true
	}
}

// carriedDepth is a copy of a host's previous depth (nil when none), for
// a collection that did not read depth to carry forward with when it was
// read, so that its connections are neither merged again nor made stale,
// and its held and modified packages stay known.
func carriedDepth(prev *patchpilot.HostDepth) *patchpilot.HostDepth {
	if prev == nil {
		return nil
	}
	d := *prev
	return &d
}

// ImportFacts stores hosts and snapshots from an Ansible fact cache or the
// output of `ansible -m setup`. Every record is parsed before anything is
// written, so a malformed file changes nothing. Hosts that Ansible reported
// as unreachable or failed are skipped, and the import returns EPARTIAL
// after storing the others.
func (a *App) ImportFacts(ctx context.Context, path string) ([]inventory.Imported, error) {
	imported, partial := inventory.ImportFacts(path)
	if partial != nil && (patchpilot.ErrorCode(partial) != patchpilot.EPARTIAL || len(imported) == 0) {
		return nil, partial
	}
	hosts := make([]patchpilot.Host, len(imported))
	for i, im := range imported {
		hosts[i] = im.Host
	}
	if err := a.Store.UpsertHosts(ctx, hosts); err != nil {
		return nil, err
	}
	collected := map[string]time.Time{}
	defer func() { a.saveExposures(ctx, collected) }()
	for _, im := range imported {
		if err := a.Store.SaveFacts(ctx, im.Facts); err != nil {
			return nil, fmt.Errorf("store facts of %s: %w", im.Host.Name, err)
		}
		collected[im.Host.Name] = im.Facts.CollectedAt
		if err := a.record(ctx, patchpilot.Event{Kind: patchpilot.EventFactsImported, Host: im.Host.Name,
			Message: "imported Ansible facts from " + path}); err != nil {
			return nil, err
		}
	}
	return imported, partial
}

// Capture runs the collectors' commands on one host and writes their raw
// output as a transcript directory, the format the parsers' tests read.
func (a *App) Capture(ctx context.Context, d patchpilot.Dialer, h patchpilot.Host, dir string) error {
	r, err := d.Dial(ctx, h)
	if err != nil {
		return err
	}
	defer r.Close()
	return collect.Capture(ctx, r, dir)
}

// PruneFacts deletes every host's fact snapshots but its newest keep, and
// records how many it deleted in the audit log.
func (a *App) PruneFacts(ctx context.Context, keep int) (int, error) {
	n, err := a.Store.PruneFacts(ctx, keep)
	if err != nil {
		return 0, err
	}
	data, _ := json.Marshal(patchpilot.FactsPrunedData{Keep: keep, Deleted: n})
	return n, a.record(ctx, patchpilot.Event{Kind: patchpilot.EventFactsPruned,
		Message: fmt.Sprintf("pruned %d fact snapshots, keeping the newest %d of each host", n, keep), Data: data})
}
