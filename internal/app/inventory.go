package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
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

// HostReport is the outcome of collecting one host. It keeps the summary
// of the facts stored, not the facts themselves, so that a collection's
// report stays small however large the fleet; the facts are in the store.
type HostReport struct {
	Host patchpilot.Host
	// Summary is patchpilot.Summarize of the host and the facts stored
	// for it; zero when Err is set.
	Summary  patchpilot.HostSummary
	Err      error
	Duration time.Duration
}

// collectBatchHosts is the most hosts whose facts one commit stores. The
// collection's writer stores what has arrived since its last commit, up
// to this many: hosts that come one at a time are stored one at a time,
// and a collection that outpaces the disk shares each commit among many
// hosts. A crash loses at most the hosts collected and not yet committed.
const collectBatchHosts = 64

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
			return nil, nil, patchpilot.Errorf(patchpilot.EINVALID, "limit %q matches no host of %s", limit, path)
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
	actor := co.Actor
	if actor == "" {
		actor = "cli"
	}
	fo := collect.FleetOptions{
		Concurrency: a.Options.Concurrency,
		Options:     collect.Options{Refresh: co.Refresh, SkipDepth: co.NoDepth, Source: source, Now: a.Options.Now},
	}
	previous := a.previousDepth(context.WithoutCancel(ctx))
	if !co.NoDepth {
		fo.PreviousDepth = previous
	}
	fo.PreviousUpdates = a.previousUpdates
	w := &collectWriter{a: a, ctx: context.WithoutCancel(ctx), run: ctx, actor: actor, source: source,
		collected: map[string]time.Time{}, progress: progress}
	// The collectors hand each host to the writer, which stores what has
	// arrived since its last commit in one commit; a full channel holds
	// the collectors back, so no more than a batch waits at once.
	results := make(chan collect.HostResult, collectBatchHosts)
	written := make(chan struct{})
	go func() {
		defer close(written)
		batch := make([]collect.HostResult, 0, collectBatchHosts)
		for r := range results {
			batch = append(batch[:0], r)
		more:
			for len(batch) < collectBatchHosts {
				select {
				case r, ok := <-results:
					if !ok {
						break more
					}
					batch = append(batch, r)
				default:
					break more
				}
			}
			w.store(batch)
			clear(batch) // the facts are stored; do not keep them
		}
	}()
	collect.Each(ctx, d, hosts, fo, func(r collect.HostResult) {
		if r.Err == nil && co.NoDepth && r.Facts.Depth == nil {
			r.Facts.Depth = carriedDepth(previous(r.Host.Name))
		}
		results <- r
	})
	close(results)
	<-written
	report, storeErr, collected := w.report, w.storeErr, w.collected
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

// collectWriter stores a collection's hosts batch by batch and keeps its
// report. Only the writer's goroutine uses it until the collection ends.
type collectWriter struct {
	a         *App
	ctx       context.Context // not canceled: what was collected is stored
	run       context.Context // the collection's: once it is canceled, failures are not recorded
	actor     string
	source    string
	progress  func(HostReport)
	report    CollectReport
	storeErr  error
	collected map[string]time.Time
}

// store saves a batch of collected hosts in one commit, each host's
// snapshot with its facts_collected event, and a failed host's
// collect_failed event, then reports each host in turn. A host whose facts
// cannot be stored fails alone, with a collect_failed event of its own;
// a commit that fails fails the batch's hosts.
func (w *collectWriter) store(batch []collect.HostResult) {
	items := make([]patchpilot.FactsSave, len(batch))
	for i := range batch {
		r := &batch[i]
		if r.Err != nil {
			// An interrupted collection records what it collected,
			// not a failure for each host it did not get to.
			if w.run.Err() == nil {
				items[i].Events = []patchpilot.Event{w.failedEvent(r.Host.Name, r.Err)}
			}
			continue
		}
		f := &r.Facts
		data, _ := json.Marshal(patchpilot.FactsCollectedData{Packages: len(f.Packages), Updates: len(f.Updates),
			SecurityUpdates: f.SecurityUpdateCount(), Source: w.source})
		items[i] = patchpilot.FactsSave{Facts: f, Events: []patchpilot.Event{{Actor: w.actor,
			Kind: patchpilot.EventFactsCollected, Host: r.Host.Name, Data: data,
			Message: fmt.Sprintf("collected %d packages, %d pending updates", len(f.Packages), len(f.Updates))}}}
	}
	errs, err := w.a.Store.SaveFactsBatch(w.ctx, items)
	var failed []patchpilot.Event // the collect_failed events still to record
	for i := range batch {
		r := &batch[i]
		hr := HostReport{Host: r.Host, Err: r.Err, Duration: r.Duration}
		storeErr := err
		if storeErr == nil {
			storeErr = errs[i]
		}
		switch {
		case storeErr == nil:
		case hr.Err == nil: // the host's facts were not stored
			hr.Err = fmt.Errorf("store facts: %w", storeErr)
			failed = append(failed, w.failedEvent(r.Host.Name, hr.Err))
			if w.storeErr == nil {
				w.storeErr = hr.Err
			}
		case err != nil: // the host's failure was not recorded: try again
			failed = append(failed, items[i].Events...) // none once canceled
		}
		if hr.Err == nil {
			hr.Summary = detachedSummary(r.Host, &r.Facts)
			w.collected[r.Host.Name] = r.Facts.CollectedAt
		} else {
			w.report.Failed++
		}
		w.report.Hosts = append(w.report.Hosts, hr)
		if w.progress != nil {
			w.progress(hr)
		}
	}
	if len(failed) > 0 && w.run.Err() == nil {
		// The failures are reported whether or not their events can be
		// stored; the store's own failure is storeErr already.
		_, _ = w.a.Store.AppendEvents(w.ctx, failed)
	}
}

// detachedSummary is patchpilot.Summarize of a host's facts with its own
// copy of the strings it takes from them: a parser's fields may be slices
// of a command's whole output, which a report kept for the whole
// collection would otherwise keep alive for every host.
func detachedSummary(h patchpilot.Host, f *patchpilot.Facts) patchpilot.HostSummary {
	s := patchpilot.Summarize(h, f)
	s.OSFamily = patchpilot.OSFamily(strings.Clone(string(s.OSFamily)))
	s.OSName, s.OSVersion = strings.Clone(s.OSName), strings.Clone(s.OSVersion)
	s.Kernel, s.Arch = strings.Clone(s.Kernel), strings.Clone(s.Arch)
	return s
}

// failedEvent is the collect_failed event of a host.
func (w *collectWriter) failedEvent(host string, err error) patchpilot.Event {
	data, _ := json.Marshal(patchpilot.CollectFailedData{Code: patchpilot.ErrorCode(err)})
	return patchpilot.Event{Actor: w.actor, Kind: patchpilot.EventCollectFailed, Host: host, Message: err.Error(), Data: data}
}

// previousDepth returns, for a host, the depth of its latest snapshot
// with when it was read: for a collection in depth to compare against, and
// for one without depth to carry forward. Each host's is read when it is
// collected, so that a collection never holds the whole fleet's. A store
// that cannot say makes the host read everything again (and a collection
// without depth carry nothing).
func (a *App) previousDepth(ctx context.Context) func(string) *patchpilot.HostDepth {
	return func(host string) *patchpilot.HostDepth {
		f, err := a.Store.LatestFactsHead(ctx, host)
		if err != nil || f.Depth == nil {
			return nil
		}
		d := *f.Depth
		if d.CollectedAt.IsZero() {
			d.CollectedAt = f.CollectedAt
		}
		return &d
	}
}

// previousUpdates answers a collection's question for the pending
// updates of a host whose package state is state: the host's latest
// facts, read in full, when they were collected in that same state with
// their updates known (see collect.Options.PreviousUpdates).
func (a *App) previousUpdates(ctx context.Context, host, state string) (patchpilot.Facts, bool) {
	if state == "" {
		return patchpilot.Facts{}, false
	}
	h, err := a.Store.LatestFactsHead(ctx, host)
	if err != nil || h.PackageState != state || !h.UpdatesKnown {
		return patchpilot.Facts{}, false
	}
	f, err := a.Store.LatestFacts(ctx, host)
	if err != nil || f.PackageState != state || !f.UpdatesKnown {
		return patchpilot.Facts{}, false
	}
	return f, true
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
