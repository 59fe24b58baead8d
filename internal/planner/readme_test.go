package planner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The plan the README shows must stay a valid plan.
func TestREADMEPlanParses(t *testing.T) {
	readme := filepath.Join("..", "..", "README.md")
	data, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "```yaml\nrollout:")
	if !ok {
		t.Fatalf("%s shows no plan (a ```yaml block starting with rollout:)", readme)
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("%s: the plan's block does not end", readme)
	}
	p, err := Parse([]byte("rollout:"+block), readme)
	if err != nil {
		t.Fatalf("the README's plan: %v", err)
	}
	if len(p.Stages) != 4 || len(p.Budgets) != 1 || p.Budgets[0].Group != "role" {
		t.Errorf("the README's plan parsed to %d stages and budgets %+v", len(p.Stages), p.Budgets)
	}
}
