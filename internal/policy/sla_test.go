package policy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

const day = 24 * time.Hour

func TestSLADecodeAndMerge(t *testing.T) {
	p, err := decode(t, `
sla: {critical: 3d, high: 14d}
groups:
  - name: prod
    hosts: env=prod
    sla:
      critical: 36h
      none: 365d
  - name: lab
    hosts: env=lab
default:
  sla: {low: 365d}
`)
	if err != nil {
		t.Fatal(err)
	}
	prod := p.SLAOf(p.Groups[0])
	want := SLA{Critical: 36 * time.Hour, High: 14 * day, Medium: 90 * day, Low: 180 * day, Unrated: 365 * day}
	if prod != want {
		t.Errorf("prod SLA = %+v, want %+v", prod, want)
	}
	if lab := p.SLAOf(p.Groups[1]); lab != (SLA{Critical: 3 * day, High: 14 * day, Medium: 90 * day, Low: 180 * day}) {
		t.Errorf("lab SLA = %+v", lab)
	}
	if def := p.SLAOf(p.GroupOf(host("x", "env=other"))); def.Low != 365*day || def.Critical != 3*day {
		t.Errorf("default group SLA = %+v", def)
	}
	if d, ok := prod.Deadline("Important"); !ok || d != 14*day {
		t.Errorf("Deadline(Important) = %v %v", d, ok)
	}
	if _, ok := (Policy{}).SLAOf(Group{}).Deadline(""); ok {
		t.Error("unrated updates have a deadline by default")
	}
	if d, ok := (Policy{}).SLAOf(Group{}).Deadline(patchpilot.SeverityCritical); !ok || d != 7*day {
		t.Errorf("default critical deadline = %v", d)
	}
	b, _ := json.Marshal(p.Groups[0].SLA)
	if string(b) != `{"critical":"36h","none":"365d"}` {
		t.Errorf("JSON = %s", b)
	}
	var back SLA
	if err := json.Unmarshal(b, &back); err != nil || back != p.Groups[0].SLA {
		t.Errorf("JSON round trip: %+v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"urgent": "1d"}`), &back); err == nil {
		t.Error("an unknown key is read")
	}
}

func TestSLADecodeErrors(t *testing.T) {
	for _, tt := range []struct{ src, want string }{
		{"sla: {critical: 7d, urgent: 1d}\n", `pp.yaml:1: policy: sla: unknown key "urgent"; known keys: critical, high, medium, low, none`},
		{"sla:\n  high: soon\n", `pp.yaml:2: policy: sla: high: "soon": expected a deadline longer than 0, such as 7d or 36h`},
		{"sla: {critical: 3x}\n", `pp.yaml:1: policy: sla: critical: "3x": expected a deadline longer than 0, such as 7d or 36h`},
		{"sla:\n  high: 0\n", `pp.yaml:2: policy: sla: high: "0": expected a deadline longer than 0`},
		{"groups:\n  - name: a\n    hosts: env=x\n    sla: 7d\n", `pp.yaml:4: policy: groups[0] (a): sla: expected a mapping`},
		{"default:\n  sla: {low: -1d}\n", `pp.yaml:2: policy: default: sla: low: "-1d"`},
	} {
		_, err := decode(t, tt.src)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.src, err, tt.want)
		}
		// A deadline of 0 is refused, so no hint for a deadline offers it.
		if err != nil && strings.Contains(err.Error(), " or 0") {
			t.Errorf("%q: err = %v offers 0 as a deadline", tt.src, err)
		}
	}
}
