package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot/internal/sqlite"
)

// model use makes an earlier stored model the active one, and model status
// says so and lists both; an unknown version exits 4 naming it.
func TestModelUse(t *testing.T) {
	e := newEnv(t)
	e.mustRun("history", "import", historyTest)
	first := decodeJSON[map[string]any](t, e.mustRun("model", "train", "-o", "json"))
	e.mustRun("history", "import", historyTrain)
	second := decodeJSON[map[string]any](t, e.mustRun("model", "train", "-o", "json"))
	v1, v2 := first["model_version"].(string), second["model_version"].(string)
	if v1 == v2 {
		t.Fatalf("two trainings on different outcomes gave one version %s", v1)
	}
	out := e.mustRun("model", "use", v1)
	for _, want := range []string{v1, "restored by", "in place of " + v2, v2 + "  saved", "(active)"} {
		if !strings.Contains(out, want) {
			t.Errorf("model use output lacks %q:\n%s", want, out)
		}
	}
	if line, _, _ := strings.Cut(out, "\n"); !strings.HasPrefix(line, "model:") || !strings.HasSuffix(line, v1) {
		t.Errorf("model use first line %q, want the model %s", line, v1)
	}
	st := decodeJSON[map[string]any](t, e.mustRun("model", "status", "-o", "json"))
	act, _ := st["activation"].(map[string]any)
	if st["model_version"] != v1 || act["how"] != "restored" || act["previous"] != v2 {
		t.Errorf("model status after model use: version %v, activation %v", st["model_version"], act)
	}
	if r := e.run("model", "use", "rm-nosuch"); r.code != 4 || !strings.Contains(r.stderr, "rm-nosuch") {
		t.Errorf("model use of an unknown version: exit %d, stderr %q; want 4 naming it", r.code, r.stderr)
	}
	if r := e.run("model", "use"); r.code != 2 {
		t.Errorf("model use without a version: exit %d, want 2", r.code)
	}
	if r := e.run("model", "use", ""); r.code != 2 || !strings.Contains(r.stderr, "a version is required") {
		t.Errorf("model use of an empty version: exit %d, stderr %q; want 2 saying a version is required", r.code, r.stderr)
	}
	if out := e.mustRun("model", "use", "--help"); !strings.Contains(out, "Exit codes") || !strings.Contains(out, "4 when no model") {
		t.Errorf("model use --help gives no exit codes:\n%s", out)
	}
	// Training again on the same outcomes stores no second model of the
	// same version.
	e.mustRun("model", "use", v2)
	out = e.mustRun("model", "train")
	if !strings.Contains(out, "unchanged:") || !strings.Contains(out, "2 models stored") {
		t.Errorf("model train on the same outcomes:\n%s\nwant it unchanged and 2 models stored", out)
	}
}

// An active model that cannot be read: model status still shows the
// stored models and exits 1 (not 2, bad input) with a hint naming a
// model to make active; assess fails with the same hint.
func TestModelStatusUnreadableModel(t *testing.T) {
	e := newEnv(t)
	db := filepath.Join(e.home, "fleet.db")
	e.mustRun("history", "import", "--db", db, historyTest)
	good := decodeJSON[map[string]any](t, e.mustRun("model", "train", "--db", db, "-o", "json"))["model_version"].(string)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveModel(ctx, "rm-damaged", time.Now(), []byte(`{}`), []byte(`not json`)); err != nil {
		t.Fatal(err)
	}
	st.Close()
	hint := "patchpilot model use " + good
	r := e.run("model", "status", "--db", db)
	if r.code != 1 || !strings.Contains(r.stdout, "unreadable:") || !strings.Contains(r.stdout, good+"  saved") ||
		!strings.Contains(r.stderr, hint) {
		t.Errorf("model status with an unreadable model: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1, the stored models and the hint %q",
			r.code, r.stdout, r.stderr, hint)
	}
	if r := e.run("assess", "--db", db); r.code != 1 || !strings.Contains(r.stderr, hint) {
		t.Errorf("assess with an unreadable model: exit %d, stderr %q; want 1 with the hint", r.code, r.stderr)
	}
}
