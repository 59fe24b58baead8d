package planner

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// view builds a host view with labels given as "k=v" and, when os is not
// empty ("debian:12"), collected facts.
func view(name, os string, labels ...string) HostView {
	h := patchpilot.Host{Name: name, Labels: map[string]string{}}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		h.Labels[k] = v
	}
	if os == "" {
		return NewHostView(h, nil)
	}
	osName, osVersion, _ := strings.Cut(os, ":")
	family := patchpilot.FamilyDebian
	if osName == "rocky" {
		family = patchpilot.FamilyRedHat
	}
	f := &patchpilot.Facts{Host: name, CollectedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		OSName: osName, OSVersion: osVersion, OSFamily: family, Arch: "x86_64", Kernel: "6.1.0-26-amd64"}
	return NewHostView(h, f)
}

func names(hosts []HostView) []string {
	var out []string
	for _, h := range hosts {
		out = append(out, h.Name())
	}
	return out
}

func TestSelect(t *testing.T) {
	web := view("web1", "debian:12", "env=prod", "role=web")
	web.Host.Groups = []string{"frontend"}
	hosts := []HostView{
		web,
		view("web2", "ubuntu:22.04", "env=prod", "role=web", "group=edge"),
		view("db1", "debian:12", "env=prod", "role=db", "criticality=critical"),
		view("app1", "rocky:9.4", "env=staging", "role=app"),
		view("new1", "", "env=prod"), // never collected
	}
	tests := []struct {
		selector string
		want     []string
	}{
		{"", []string{"web1", "web2", "db1", "app1", "new1"}},
		{"env=prod", []string{"web1", "web2", "db1", "new1"}},
		{"env=prod,role!=db", []string{"web1", "web2", "new1"}},
		{"env==prod, role = web", []string{"web1", "web2"}},
		{"os=debian:12", []string{"web1", "db1"}},
		{"os=debian", []string{"web1", "db1"}},
		{"os=rocky:9", []string{"app1"}},
		{"os=ubuntu:22.*", []string{"web2"}},
		{"os!=debian:12", []string{"web2", "app1"}}, // new1 has no facts: fail closed
		{"os_family=redhat", []string{"app1"}},
		{"arch=x86_64,role=db", []string{"db1"}},
		{"group=frontend", []string{"web1"}},
		{"group=edge", []string{"web2"}},
		{"name=web*", []string{"web1", "web2"}},
		{"criticality", []string{"db1"}},
		{"!criticality,env=prod", []string{"web1", "web2", "new1"}},
		{"role!=db,role!=web", []string{"app1", "new1"}},
		{"kernel=6.1.*", []string{"web1", "web2", "db1", "app1"}},
		{"role=nosuch", nil},
	}
	for _, tt := range tests {
		got, err := Select(tt.selector, hosts)
		if err != nil {
			t.Errorf("Select(%q): %v", tt.selector, err)
			continue
		}
		if !reflect.DeepEqual(names(got), tt.want) {
			t.Errorf("Select(%q) = %v, want %v", tt.selector, names(got), tt.want)
		}
		// The views whole, as a plain filter keeps them: nil when none
		// matches.
		sel, _ := ParseSelector(tt.selector)
		var want []HostView
		for _, h := range hosts {
			if sel.Matches(h) {
				want = append(want, h)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Select(%q) returns other views than a plain filter: %+v", tt.selector, got)
		}
	}
}

func TestSelectorErrors(t *testing.T) {
	tests := []struct{ selector, want string }{
		{"env=prod,,role=web", `term 2 "": empty term`},
		{"env=", `term 1 "env=": missing value after =`},
		{"=prod", `invalid key ""`},
		{"env=prod=x", `invalid value "prod=x"`},
		{"role!=", `missing value after !=`},
		{"os", `"os" is a fact: compare it with = or !=`},
		{"name=web[", `invalid pattern "web["`},
		{"env prod", `invalid key "env prod"`},
		{"!", `invalid key ""`},
	}
	for _, tt := range tests {
		_, err := ParseSelector(tt.selector)
		if err == nil {
			t.Errorf("ParseSelector(%q) succeeded, want error %q", tt.selector, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseSelector(%q) = %q, want it to contain %q", tt.selector, err, tt.want)
		}
		if patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			t.Errorf("ParseSelector(%q) code = %q", tt.selector, patchpilot.ErrorCode(err))
		}
	}
}

func TestSelectTargets(t *testing.T) {
	hosts := []HostView{view("a", "debian:12", "env=prod"), view("b", "debian:12", "env=prod"), view("c", "debian:12", "env=dev")}
	got, err := SelectTargets(patchpilot.TargetSelector{Selector: "env=prod", Hosts: []string{"b", "c"}}, hosts)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"b"}; !reflect.DeepEqual(names(got), want) {
		t.Errorf("got %v, want %v", names(got), want)
	}
	_, err = SelectTargets(patchpilot.TargetSelector{Hosts: []string{"zz"}}, hosts)
	if patchpilot.ErrorCode(err) != patchpilot.ENOTFOUND || !strings.Contains(err.Error(), `"zz"`) {
		t.Errorf("unknown host: err = %v, want not_found naming zz", err)
	}
}

// TestSelectAllLeavesOutNeverCollected checks that a plan without selector
// or names targets only hosts that answered once, and says which it left
// out; a selector or a name still reaches such a host.
func TestSelectAllLeavesOutNeverCollected(t *testing.T) {
	hosts := []HostView{view("a", "debian:12", "env=prod"), view("new", "", "env=prod"), view("b", "debian:12")}
	got, err := SelectTargets(patchpilot.TargetSelector{}, hosts)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b"}; !reflect.DeepEqual(names(got), want) {
		t.Errorf("no selector: targets %v, want %v", names(got), want)
	}
	if left := names(LeftOut(patchpilot.TargetSelector{}, hosts)); !reflect.DeepEqual(left, []string{"new"}) {
		t.Errorf("no selector: left out %v, want [new]", left)
	}
	for _, ts := range []patchpilot.TargetSelector{{Selector: "env=prod"}, {Hosts: []string{"new"}}} {
		got, err := SelectTargets(ts, hosts)
		if err != nil || !slices.Contains(names(got), "new") {
			t.Errorf("%+v: targets %v (%v), want new among them", ts, names(got), err)
		}
		if left := LeftOut(ts, hosts); len(left) != 0 {
			t.Errorf("%+v: left out %v, want none", ts, names(left))
		}
	}
}
