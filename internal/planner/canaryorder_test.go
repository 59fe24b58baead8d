package planner

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
)

// refSortByCriticality and refChooseCanaries are the straightforward
// forms (sorting and grouping the views themselves) that the place-based
// ones must equal.
func refSortByCriticality(hosts []HostView) {
	sort.SliceStable(hosts, func(i, j int) bool {
		if ri, rj := criticalityRank(&hosts[i]), criticalityRank(&hosts[j]); ri != rj {
			return ri < rj
		}
		return hosts[i].Name() < hosts[j].Name()
	})
}

// refConfigKey is configKey worked out for one host alone, its sets
// built afresh: what configKeys, which shares the patch's names between
// hosts, must equal.
func refConfigKey(h HostView, patch patchpilot.PatchSpec) string {
	os := "unknown-os"
	if h.Facts.CollectedAt != nil && h.Facts.OSName != "" {
		os = h.Facts.OSName + ":" + h.Facts.OSVersion
	}
	role := h.Host.Labels[patchpilot.LabelRole]
	if role == "" {
		role = "no-role"
	}
	key := os + "/" + role
	if len(patch.Packages) == 0 || (len(h.Packages) == 0 && h.Facts.PackageCount == 0) {
		return key
	}
	names, sources := map[string]bool{}, map[string]bool{}
	for _, pin := range patch.Packages {
		names[pin.Name] = true
		if src, ok := h.Packages[pin.Name]; ok && src != "" {
			sources[src] = true
		}
	}
	set := map[string]bool{}
	for name, src := range h.Packages {
		if names[name] || (src != "" && sources[src]) {
			set[name] = true
		}
	}
	for _, svc := range h.Services {
		unit := strings.TrimSuffix(svc, ".service")
		if names[unit] || sources[unit] {
			set["svc:"+unit] = true
		}
	}
	var keys []string
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		key += "/" + strings.Join(keys, "+")
	}
	return key
}

func refChooseCanaries(hosts []HostView, n int, patch patchpilot.PatchSpec) ([]HostView, []string) {
	groups := map[string][]HostView{}
	var keys []string
	for _, h := range hosts {
		k := refConfigKey(h, patch)
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], h)
	}
	for _, k := range keys {
		refSortByCriticality(groups[k])
	}
	sort.SliceStable(keys, func(i, j int) bool {
		a, b := groups[keys[i]], groups[keys[j]]
		if ra, rb := criticalityRank(&a[0]), criticalityRank(&b[0]); ra != rb {
			return ra < rb
		}
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return keys[i] < keys[j]
	})
	var out []HostView
	for round := 0; len(out) < n && round < len(hosts); round++ {
		for _, k := range keys {
			if len(out) < n && round < len(groups[k]) {
				out = append(out, groups[k][round])
			}
		}
	}
	return out, keys
}

// TestCanaryChoiceAsStraightforward compares the canary choice and the
// criticality order with their straightforward forms over varied fleets:
// criticality labels in any case, roles, systems, key packages, services,
// hosts never collected, names out of order, several patches (a
// security patch too) and every canary count.
func TestCanaryChoiceAsStraightforward(t *testing.T) {
	patches := []patchpilot.PatchSpec{
		{Packages: []patchpilot.PackagePin{{Name: "openssl", Version: "3.0.15-1"}}},
		{Packages: []patchpilot.PackagePin{{Name: "openssl", Version: "3.0.15-1"}, {Name: "curl", Version: "8.5.0-3"}}},
		{Packages: []patchpilot.PackagePin{{Name: "libcurl4", Version: "8.5.0-3"}}},
		{SecurityAll: true},
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for seed := range uint64(30) {
		r := rand.New(rand.NewPCG(seed, 7))
		n := 1 + r.IntN(60)
		hosts := make([]HostView, n)
		for i := range hosts {
			labels := map[string]string{}
			if c := []string{"", "low", "LOW", "medium", "high", "High", "critical", "CRITICAL"}[r.IntN(8)]; c != "" {
				labels[patchpilot.LabelCriticality] = c
			}
			if role := []string{"", "web", "db", "api"}[r.IntN(4)]; role != "" {
				labels[patchpilot.LabelRole] = role
			}
			h := patchpilot.Host{Name: fmt.Sprintf("h-%03d", r.IntN(1000)*1000+i), Labels: labels}
			var f *patchpilot.Facts
			if r.IntN(6) > 0 {
				f = &patchpilot.Facts{Host: h.Name, CollectedAt: at, OSName: []string{"debian", "rocky"}[r.IntN(2)],
					OSVersion: []string{"11", "12", "9"}[r.IntN(3)]}
				if r.IntN(3) > 0 {
					f.Packages = append(f.Packages, patchpilot.Package{Name: "openssl", Version: "3.0.14-1", SourceName: "openssl"})
				}
				if r.IntN(2) > 0 {
					f.Packages = append(f.Packages, patchpilot.Package{Name: "libssl3", Version: "3.0.14-1", SourceName: "openssl"})
				}
				if r.IntN(3) == 0 {
					f.Packages = append(f.Packages, patchpilot.Package{Name: "libcurl4", Version: "8.5.0-2", SourceName: "curl"})
				}
				if r.IntN(4) == 0 {
					f.Packages = append(f.Packages, patchpilot.Package{Name: "curl", Version: "8.5.0-2", SourceName: "curl"})
				}
				// Services, one of them sometimes listed twice.
				for range r.IntN(4) {
					f.Services = append(f.Services, []string{"openssl.service", "openssl", "curl.service", "ssh.service"}[r.IntN(4)])
				}
			}
			hosts[i] = NewHostView(h, f)
		}
		ref := append([]HostView(nil), hosts...)
		got := append([]HostView(nil), hosts...)
		refSortByCriticality(ref)
		sortByCriticality(got)
		if !reflect.DeepEqual(got, ref) {
			t.Errorf("seed %d: sortByCriticality differs:\n got %v\nwant %v", seed, viewNames(got), viewNames(ref))
		}
		for _, patch := range patches {
			for _, k := range []int{0, 1, 2, 3, n / 2, n} {
				wantPicks, wantKeys := refChooseCanaries(hosts, k, patch)
				gotPicks, gotKeys := chooseCanaries(hosts, k, configKeys(patch, len(hosts)))
				if !reflect.DeepEqual(gotPicks, wantPicks) || !reflect.DeepEqual(gotKeys, wantKeys) {
					t.Errorf("seed %d, patch %+v, %d canaries: got %v %v, want %v %v", seed, patch, k, viewNames(gotPicks), gotKeys, viewNames(wantPicks), wantKeys)
				}
			}
		}
	}
}

func viewNames(vs []HostView) string {
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = v.Name()
	}
	return strings.Join(names, " ")
}
