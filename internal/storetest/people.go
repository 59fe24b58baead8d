package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// runPeople is the group for patchpilot.TokenStore, AuditStore and
// PlanStore, and the saved plan a rollout names.
func (s suite) runPeople(t *testing.T) {
	t.Run("Tokens", s.testTokens)
	t.Run("TokenInvalid", s.testTokenInvalid)
	t.Run("TokenTimes", s.testTokenTimes)
	t.Run("Audit", s.testAudit)
	t.Run("AuditFilter", s.testAuditFilter)
	t.Run("AuditInvalid", s.testAuditInvalid)
	t.Run("AuditConcurrency", s.testAuditConcurrency)
	t.Run("PlanRecords", s.testPlanRecords)
	t.Run("RolloutPlanID", s.testRolloutPlanID)
}

// hashOf is the hash a store is given for a secret.
func hashOf(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func (s suite) testTokens(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	if got, err := st.Tokens(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Tokens of an empty store = %+v, %v; want none", got, err)
	}
	alice := patchpilot.Token{Name: "alice", Role: patchpilot.RoleApprover, CreatedBy: "user:root",
		CreatedAt: baseTime.In(otherZone)}
	ci := patchpilot.Token{Name: "ci-bot", Role: patchpilot.RoleOperator, CreatedBy: "token:admin",
		CreatedAt: baseTime.Add(time.Minute)}
	for _, tk := range []patchpilot.Token{ci, alice} {
		if err := st.CreateToken(ctx, tk, hashOf("secret-"+tk.Name)); err != nil {
			t.Fatalf("CreateToken(%s): %v", tk.Name, err)
		}
	}
	got, err := st.TokenByHash(ctx, hashOf("secret-alice"))
	if err != nil {
		t.Fatalf("TokenByHash: %v", err)
	}
	want := alice
	want.CreatedAt = alice.CreatedAt.UTC()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("TokenByHash = %+v, want %+v", got, want)
	}
	if _, err := st.TokenByHash(ctx, hashOf("no such secret")); err == nil {
		t.Error("TokenByHash of an unknown secret: got no error, want not_found")
	} else {
		wantCode(t, err, patchpilot.ENOTFOUND, "")
	}

	// A name is never given twice, revoked or not, and neither is a hash.
	if err := st.CreateToken(ctx, patchpilot.Token{Name: "alice", Role: patchpilot.RoleViewer}, hashOf("other")); err == nil {
		t.Error("CreateToken with a taken name: got no error, want conflict")
	} else {
		wantCode(t, err, patchpilot.ECONFLICT, "alice")
	}
	if err := st.CreateToken(ctx, patchpilot.Token{Name: "bob", Role: patchpilot.RoleViewer}, hashOf("secret-alice")); err == nil {
		t.Error("CreateToken with a taken hash: got no error, want conflict")
	} else {
		wantCode(t, err, patchpilot.ECONFLICT, "")
	}

	revokedAt := baseTime.Add(time.Hour).In(otherZone)
	if err := st.RevokeToken(ctx, "ci-bot", revokedAt); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	// Revoking again changes nothing: the first time stays.
	if err := st.RevokeToken(ctx, "ci-bot", revokedAt.Add(time.Hour)); err != nil {
		t.Fatalf("RevokeToken again: %v", err)
	}
	if err := st.RevokeToken(ctx, "nobody", revokedAt); err == nil {
		t.Error("RevokeToken of an unknown name: got no error, want not_found")
	} else {
		wantCode(t, err, patchpilot.ENOTFOUND, "nobody")
	}
	if err := st.CreateToken(ctx, patchpilot.Token{Name: "ci-bot", Role: patchpilot.RoleViewer}, hashOf("new")); err == nil {
		t.Error("CreateToken with a revoked token's name: got no error, want conflict")
	} else {
		wantCode(t, err, patchpilot.ECONFLICT, "ci-bot")
	}
	// A revoked token is still found by its hash, for the caller to refuse.
	bot, err := st.TokenByHash(ctx, hashOf("secret-ci-bot"))
	if err != nil {
		t.Fatalf("TokenByHash of a revoked token: %v", err)
	}
	if bot.RevokedAt == nil || !bot.RevokedAt.Equal(revokedAt) || bot.RevokedAt.Location() != time.UTC {
		t.Errorf("revoked token's RevokedAt = %v, want %v in UTC", bot.RevokedAt, revokedAt)
	}

	list, err := st.Tokens(ctx)
	if err != nil {
		t.Fatalf("Tokens: %v", err)
	}
	var names []string
	for _, tk := range list {
		names = append(names, tk.Name)
	}
	if want := []string{"alice", "ci-bot"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("Tokens = %v, want %v ordered by name", names, want)
	}
	if list[0].RevokedAt != nil || list[1].RevokedAt == nil || list[1].Role != patchpilot.RoleOperator ||
		list[1].CreatedBy != "token:admin" || !list[1].CreatedAt.Equal(ci.CreatedAt) {
		t.Errorf("Tokens = %+v, want alice active and ci-bot revoked, as created", list)
	}
}

func (s suite) testTokenInvalid(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	for _, c := range []struct {
		name string
		tk   patchpilot.Token
		hash []byte
	}{
		{"empty name", patchpilot.Token{Role: patchpilot.RoleViewer}, hashOf("a")},
		{"empty role", patchpilot.Token{Name: "a"}, hashOf("a")},
		{"short hash", patchpilot.Token{Name: "a", Role: patchpilot.RoleViewer}, []byte("abc")},
		{"no hash", patchpilot.Token{Name: "a", Role: patchpilot.RoleViewer}, nil},
	} {
		if err := st.CreateToken(ctx, c.tk, c.hash); err == nil {
			t.Errorf("CreateToken with %s: got no error, want invalid", c.name)
		} else {
			wantCode(t, err, patchpilot.EINVALID, "")
		}
	}
	if got, err := st.Tokens(ctx); err != nil || len(got) != 0 {
		t.Errorf("after refused creations Tokens = %+v, %v; want none", got, err)
	}
	if err := st.TouchToken(ctx, "nobody", baseTime); err == nil {
		t.Error("TouchToken of an unknown name: got no error, want not_found")
	} else {
		wantCode(t, err, patchpilot.ENOTFOUND, "nobody")
	}
}

func (s suite) testTokenTimes(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	before := time.Now()
	if err := st.CreateToken(ctx, patchpilot.Token{Name: "a", Role: patchpilot.RoleViewer}, hashOf("a")); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	tk, err := st.TokenByHash(ctx, hashOf("a"))
	if err != nil {
		t.Fatal(err)
	}
	wantAbout(t, "CreatedAt", tk.CreatedAt, before, after)
	if tk.LastUsed != nil {
		t.Errorf("a new token's LastUsed = %v, want none", tk.LastUsed)
	}
	used := baseTime.Add(2 * time.Hour).In(otherZone)
	if err := st.TouchToken(ctx, "a", used); err != nil {
		t.Fatalf("TouchToken: %v", err)
	}
	// A late write of an earlier use does not move the last use back.
	if err := st.TouchToken(ctx, "a", used.Add(-time.Hour)); err != nil {
		t.Fatalf("TouchToken earlier: %v", err)
	}
	tk, err = st.TokenByHash(ctx, hashOf("a"))
	if err != nil {
		t.Fatal(err)
	}
	if tk.LastUsed == nil || !tk.LastUsed.Equal(used) || tk.LastUsed.Location() != time.UTC {
		t.Errorf("LastUsed = %v, want %v in UTC", tk.LastUsed, used)
	}
}

// auditFixture is an entry with every field set.
func auditFixture(i int, actor, rollout string) patchpilot.AuditEntry {
	return patchpilot.AuditEntry{
		Time: baseTime.Add(time.Duration(i) * time.Minute).In(otherZone), Actor: actor, Token: "alice",
		Action: "rollout.approve", Target: fmt.Sprintf("stage-%d", i), Rollout: rollout, Outcome: "ok",
		Detail: json.RawMessage(fmt.Sprintf(`{"stage": "stage-%d", "hosts": [1, 2]}`, i)),
	}
}

func (s suite) testAudit(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	if got, err := st.Audit(ctx, patchpilot.AuditFilter{}); err != nil || len(got) != 0 {
		t.Fatalf("Audit of an empty store = %+v, %v; want none", got, err)
	}
	e := auditFixture(0, "token:alice", "r-1")
	got, err := st.AppendAudit(ctx, e)
	if err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	if got.ID <= 0 {
		t.Errorf("AppendAudit ID = %d, want a positive id", got.ID)
	}
	before := time.Now()
	bare, err := st.AppendAudit(ctx, patchpilot.AuditEntry{Actor: "user:root", Action: "token.revoke", Outcome: "not_found"})
	if err != nil {
		t.Fatalf("AppendAudit without time: %v", err)
	}
	wantAbout(t, "Time", bare.Time, before, time.Now())
	if bare.ID <= got.ID {
		t.Errorf("second entry ID %d, want more than %d", bare.ID, got.ID)
	}
	list, err := st.Audit(ctx, patchpilot.AuditFilter{})
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	if len(list) != 2 {
		t.Fatalf("Audit = %+v, want 2 entries", list)
	}
	want := e
	want.ID, want.Time = got.ID, e.Time.UTC()
	gotFirst := list[0]
	gotFirst.Detail = canonicalJSON(t, gotFirst.Detail)
	want.Detail = canonicalJSON(t, want.Detail)
	if !reflect.DeepEqual(gotFirst, want) {
		t.Errorf("Audit[0] =\n%+v\nwant\n%+v", gotFirst, want)
	}
	if list[1].ID != bare.ID || list[1].Detail != nil || list[1].Token != "" || list[1].Outcome != "not_found" {
		t.Errorf("Audit[1] = %+v, want the bare entry without detail", list[1])
	}
}

func (s suite) testAuditFilter(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	// Entries are stored out of time order: the list is in id order.
	specs := []struct {
		min            int
		actor, rollout string
	}{{0, "token:alice", "r-1"}, {2, "token:bob", "r-1"}, {1, "token:alice", "r-2"}, {3, "user:root", ""}, {4, "token:alice", "r-1"}}
	var ids []int64
	for _, sp := range specs {
		e, err := st.AppendAudit(ctx, auditFixture(sp.min, sp.actor, sp.rollout))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	check := func(name string, f patchpilot.AuditFilter, want ...int) {
		t.Helper()
		got, err := st.Audit(ctx, f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var gotIdx []int
		for _, e := range got {
			for i, id := range ids {
				if e.ID == id {
					gotIdx = append(gotIdx, i)
				}
			}
		}
		if !reflect.DeepEqual(gotIdx, want) && !(len(gotIdx) == 0 && len(want) == 0) {
			t.Errorf("%s: entries %v, want %v", name, gotIdx, want)
		}
	}
	check("all", patchpilot.AuditFilter{}, 0, 1, 2, 3, 4)
	check("actor", patchpilot.AuditFilter{Actor: "token:alice"}, 0, 2, 4)
	check("rollout", patchpilot.AuditFilter{Rollout: "r-1"}, 0, 1, 4)
	check("actor and rollout", patchpilot.AuditFilter{Actor: "token:alice", Rollout: "r-1"}, 0, 4)
	check("since (inclusive)", patchpilot.AuditFilter{Since: baseTime.Add(2 * time.Minute)}, 1, 3, 4)
	check("until (exclusive)", patchpilot.AuditFilter{Until: baseTime.Add(2 * time.Minute)}, 0, 2)
	check("since and until", patchpilot.AuditFilter{Since: baseTime.Add(time.Minute).In(otherZone), Until: baseTime.Add(3 * time.Minute)}, 1, 2)
	check("limit: the newest, oldest first", patchpilot.AuditFilter{Limit: 2}, 3, 4)
	check("limit with actor", patchpilot.AuditFilter{Actor: "token:alice", Limit: 2}, 2, 4)
	check("no match", patchpilot.AuditFilter{Actor: "token:carol"})
	if _, err := st.Audit(ctx, patchpilot.AuditFilter{Limit: -1}); err == nil {
		t.Error("Audit with a negative limit: got no error, want invalid")
	} else {
		wantCode(t, err, patchpilot.EINVALID, "limit")
	}
}

func (s suite) testAuditInvalid(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	ok := patchpilot.AuditEntry{Actor: "token:a", Action: "rollout.start", Outcome: "ok"}
	for _, c := range []struct {
		name string
		edit func(e *patchpilot.AuditEntry)
	}{
		{"no actor", func(e *patchpilot.AuditEntry) { e.Actor = "" }},
		{"no action", func(e *patchpilot.AuditEntry) { e.Action = "" }},
		{"no outcome", func(e *patchpilot.AuditEntry) { e.Outcome = "" }},
		{"detail not JSON", func(e *patchpilot.AuditEntry) { e.Detail = json.RawMessage(`{"a":`) }},
		{"detail not an object", func(e *patchpilot.AuditEntry) { e.Detail = json.RawMessage(`[1, 2]`) }},
		{"time out of range", func(e *patchpilot.AuditEntry) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
	} {
		e := ok
		c.edit(&e)
		if _, err := st.AppendAudit(ctx, e); err == nil {
			t.Errorf("AppendAudit with %s: got no error, want invalid", c.name)
		} else {
			wantCode(t, err, patchpilot.EINVALID, "")
		}
	}
	if got, err := st.Audit(ctx, patchpilot.AuditFilter{}); err != nil || len(got) != 0 {
		t.Errorf("after refused entries Audit = %+v, %v; want none", got, err)
	}
}

func (s suite) testAuditConcurrency(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	const writers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e := patchpilot.AuditEntry{Actor: fmt.Sprintf("token:w%d", w), Action: "rollout.pause",
					Target: fmt.Sprint(i), Outcome: "ok"}
				if _, err := st.AppendAudit(ctx, e); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("AppendAudit: %v", err)
	}
	list, err := st.Audit(ctx, patchpilot.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != writers*each {
		t.Fatalf("Audit has %d entries, want %d", len(list), writers*each)
	}
	for i := 1; i < len(list); i++ {
		if list[i].ID <= list[i-1].ID {
			t.Fatalf("Audit ids not increasing: %d then %d", list[i-1].ID, list[i].ID)
		}
	}
}

func (s suite) testPlanRecords(t *testing.T) {
	ctx := context.Background()
	st := s.store(t)
	if got, err := st.PlanRecords(ctx); err != nil || len(got) != 0 {
		t.Fatalf("PlanRecords of an empty store = %+v, %v; want none", got, err)
	}
	if _, err := st.PlanRecord(ctx, "p-none"); err == nil {
		t.Error("PlanRecord of an unknown id: got no error, want not_found")
	} else {
		wantCode(t, err, patchpilot.ENOTFOUND, "p-none")
	}
	older := patchpilot.PlanRecord{ID: "p-1", Name: "kernel", Source: planSource, CreatedBy: "token:alice",
		CreatedAt: baseTime.In(otherZone)}
	newer := patchpilot.PlanRecord{ID: "p-0", Name: "", Source: "rollout:\n  stages: []\n", CreatedBy: "user:root",
		CreatedAt: baseTime.Add(time.Second)}
	sameTime := patchpilot.PlanRecord{ID: "p-2", Name: "openssl", Source: "x", CreatedAt: baseTime}
	for _, p := range []patchpilot.PlanRecord{older, newer, sameTime} {
		if err := st.SavePlan(ctx, p); err != nil {
			t.Fatalf("SavePlan(%s): %v", p.ID, err)
		}
	}
	got, err := st.PlanRecord(ctx, "p-1")
	if err != nil {
		t.Fatalf("PlanRecord: %v", err)
	}
	want := older
	want.CreatedAt = older.CreatedAt.UTC()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PlanRecord =\n%+v\nwant\n%+v", got, want)
	}
	if !bytes.Equal([]byte(got.Source), []byte(planSource)) {
		t.Errorf("Source changed in the round trip")
	}
	list, err := st.PlanRecords(ctx)
	if err != nil {
		t.Fatalf("PlanRecords: %v", err)
	}
	var ids []string
	for _, p := range list {
		ids = append(ids, p.ID)
	}
	// Newest first; at the same time, the greater id first.
	if want := []string{"p-0", "p-2", "p-1"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("PlanRecords = %v, want %v", ids, want)
	}
	if err := st.SavePlan(ctx, patchpilot.PlanRecord{ID: "p-1", Source: "y"}); err == nil {
		t.Error("SavePlan with a taken id: got no error, want conflict")
	} else {
		wantCode(t, err, patchpilot.ECONFLICT, "p-1")
	}
	for name, p := range map[string]patchpilot.PlanRecord{
		"empty id":     {Source: "x"},
		"empty source": {ID: "p-9"},
	} {
		if err := st.SavePlan(ctx, p); err == nil {
			t.Errorf("SavePlan with %s: got no error, want invalid", name)
		} else {
			wantCode(t, err, patchpilot.EINVALID, "")
		}
	}
	before := time.Now()
	if err := st.SavePlan(ctx, patchpilot.PlanRecord{ID: "p-now", Source: "x"}); err != nil {
		t.Fatal(err)
	}
	now, err := st.PlanRecord(ctx, "p-now")
	if err != nil {
		t.Fatal(err)
	}
	wantAbout(t, "CreatedAt", now.CreatedAt, before, time.Now())
}

// testRolloutPlanID checks that a rollout keeps the saved plan it was
// started from, and that one started from a file has none.
func (s suite) testRolloutPlanID(t *testing.T) {
	st := s.store(t)
	withPlan := fixtureRollout("r-plan", baseTime)
	fromFile := fixtureRollout("r-file", baseTime.Add(time.Second))
	fromFile.PlanID = ""
	mustCreate(t, st, withPlan)
	mustCreate(t, st, fromFile)
	if got := mustRollout(t, st, "r-plan").PlanID; got != withPlan.PlanID {
		t.Errorf("PlanID = %q, want %q", got, withPlan.PlanID)
	}
	if got := mustRollout(t, st, "r-file").PlanID; got != "" {
		t.Errorf("PlanID of a rollout from a file = %q, want none", got)
	}
	list, err := st.Rollouts(context.Background(), patchpilot.RolloutFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].PlanID != "" || list[1].PlanID != withPlan.PlanID {
		t.Errorf("Rollouts plan ids = %+v, want the listing to carry them", list)
	}
}
