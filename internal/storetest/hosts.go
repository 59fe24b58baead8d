package storetest

import (
	"context"
	"reflect"
	"testing"

	"github.com/patchpilot/patchpilot"
)

func (s suite) testHosts(t *testing.T) {
	ctx := context.Background()

	t.Run("RoundTripAndOrder", func(t *testing.T) {
		st := s.store(t)
		web := patchpilot.Host{
			Name: "web-1", Address: "10.0.0.5", Port: 2222, User: "deploy", KeyFile: "/etc/patchpilot/id_ed25519",
			Become: true, JumpHost: "bastion", Groups: []string{"web", "prod"},
			Labels: map[string]string{patchpilot.LabelRole: "web", patchpilot.LabelCriticality: "critical"},
			Source: "inventory.ini",
		}
		db := patchpilot.Host{Name: "db-1"} // only a name: every other field zero
		mustUpsert(t, st, web, db)

		got, err := st.Host(ctx, "web-1")
		if err != nil {
			t.Fatalf("Host: %v", err)
		}
		if !reflect.DeepEqual(got, web) {
			t.Errorf("Host(web-1) = %+v, want %+v", got, web)
		}
		got, err = st.Host(ctx, "db-1")
		if err != nil {
			t.Fatalf("Host: %v", err)
		}
		if !reflect.DeepEqual(got, db) {
			t.Errorf("Host(db-1) = %+v, want %+v", got, db)
		}
		all, err := st.Hosts(ctx)
		if err != nil {
			t.Fatalf("Hosts: %v", err)
		}
		if want := []patchpilot.Host{db, web}; !reflect.DeepEqual(all, want) {
			t.Errorf("Hosts = %+v, want %+v (ordered by name)", all, want)
		}
	})

	t.Run("UpsertReplaces", func(t *testing.T) {
		st := s.store(t)
		mustUpsert(t, st, patchpilot.Host{
			Name: "app", Address: "old.example", Groups: []string{"a", "b"}, Become: true,
			Labels: map[string]string{"env": "staging", "role": "app"},
		})
		mustSave(t, st, Facts("app", baseTime, 3, 1))
		replaced := patchpilot.Host{Name: "app", Address: "new.example", Groups: []string{"c"},
			Labels: map[string]string{"env": "prod"}}
		mustUpsert(t, st, replaced)
		got, err := st.Host(ctx, "app")
		if err != nil {
			t.Fatalf("Host: %v", err)
		}
		if !reflect.DeepEqual(got, replaced) {
			t.Errorf("after upsert Host = %+v, want %+v (labels replaced, not merged)", got, replaced)
		}
		if _, err := st.LatestFacts(ctx, "app"); err != nil {
			t.Errorf("LatestFacts after upsert: %v; replacing a host must keep its facts", err)
		}
		all, err := st.Hosts(ctx)
		if err != nil || len(all) != 1 {
			t.Errorf("Hosts = %v, %v; want the one host", all, err)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		st := s.store(t)
		if err := st.UpsertHosts(ctx, nil); err != nil {
			t.Errorf("UpsertHosts(nil) = %v, want nil", err)
		}
		all, err := st.Hosts(ctx)
		if err != nil || len(all) != 0 {
			t.Errorf("Hosts of an empty store = %v, %v; want none", all, err)
		}
	})

	t.Run("AllOrNothing", func(t *testing.T) {
		st := s.store(t)
		err := st.UpsertHosts(ctx, []patchpilot.Host{{Name: "good"}, {Name: ""}})
		wantCode(t, err, patchpilot.EINVALID, "")
		_, err = st.Host(ctx, "good")
		wantCode(t, err, patchpilot.ENOTFOUND, "good")
	})

	t.Run("NotFound", func(t *testing.T) {
		st := s.store(t)
		_, err := st.Host(ctx, "ghost")
		wantCode(t, err, patchpilot.ENOTFOUND, "ghost")
	})
}
