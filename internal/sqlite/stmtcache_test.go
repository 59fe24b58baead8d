package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Writes in transactions and outside them, at once, with the statements
// kept and without (prepared at their first use): none waits for the
// write connection a transaction holds, and every write lands.
func TestKeptStatementsNeverWaitForTheWriter(t *testing.T) {
	for _, kept := range []bool{true, false} {
		t.Run(fmt.Sprintf("kept=%v", kept), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			db, err := Open(ctx, filepath.Join(t.TempDir(), "pp.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if !kept {
				if err := db.closeStmts(); err != nil {
					t.Fatal(err)
				}
			}
			var hosts []string
			for i := range 8 {
				hosts = append(hosts, fmt.Sprintf("h%d", i))
			}
			r := patchpilot.Rollout{ID: "r", CreatedAt: time.Now(), State: patchpilot.RolloutRunning,
				Stages: []patchpilot.StageRun{{Index: 0, Name: "all", Hosts: hosts}}}
			if err := db.CreateRollout(ctx, r); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 3*len(hosts))
			for _, h := range hosts {
				wg.Add(3)
				go func() {
					defer wg.Done()
					_, _, err := db.SaveHostRunEvent(ctx, patchpilot.HostRun{Rollout: "r", Host: h, State: patchpilot.HostApply},
						patchpilot.Event{Kind: patchpilot.EventHostState, Rollout: "r", Host: h, Message: h + " apply"})
					errs <- err
				}()
				go func() {
					defer wg.Done()
					_, err := db.AppendEvent(ctx, patchpilot.Event{Kind: patchpilot.EventRequest, Rollout: "r", Message: "look at " + h})
					errs <- err
				}()
				go func() {
					defer wg.Done()
					_, err := db.HostRun(ctx, "r", h)
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			evs, err := db.Events(ctx, patchpilot.EventFilter{Rollout: "r"})
			if err != nil || len(evs) != 2*len(hosts) {
				t.Fatalf("%d events, %v; want %d", len(evs), err, 2*len(hosts))
			}
			for _, h := range hosts {
				if hr, err := db.HostRun(ctx, "r", h); err != nil || hr.State != patchpilot.HostApply {
					t.Errorf("%s: %+v, %v; want apply", h, hr, err)
				}
			}
		})
	}
}
