package risk

import (
	"strings"
	"testing"
)

// linearCategory is the table read rule by rule, as documented: an exact
// name wins, else the longest prefix, the first of the table among equals.
func linearCategory(name string) string {
	if name == "" {
		return ""
	}
	best, bestLen := "", -1
	for _, r := range categoryTable() {
		if prefix, ok := strings.CutSuffix(r.pattern, "*"); ok {
			if strings.HasPrefix(name, prefix) && len(prefix) > bestLen {
				best, bestLen = r.category, len(prefix)
			}
			continue
		}
		if name == r.pattern {
			return r.category
		}
	}
	return best
}

// TestCategoryIndexMatchesTable: the indexed lookup answers what reading
// the table rule by rule answers, for every pattern, names that extend,
// shorten or nearly match them, and names of no rule.
func TestCategoryIndexMatchesTable(t *testing.T) {
	names := []string{"", "x", "linux", "linux-", "linux-firmware", "linux-firmware-nonfree", "linux-image-amd64",
		"linux-imag", "libc6", "libc6-dev", "libc", "openssh-server", "openssh", "db", "db5.3", "dbus", "dbus-user-session",
		"kernel", "kernel-core", "pp-kernel-demo", "polkitd", "python3.11", "libssl3", "zlib1g", "nginx-common"}
	for _, r := range categoryTable() {
		p := strings.TrimSuffix(r.pattern, "*")
		names = append(names, r.pattern, p, p+"x", p+"-dev", p[:len(p)-1])
	}
	for _, n := range names {
		if got, want := lookupCategory(n), linearCategory(n); got != want {
			t.Errorf("lookupCategory(%q) = %q, want %q", n, got, want)
		}
	}
}

// TestCategorizeCachedAgrees: a name's category is the same when looked up
// again (from the cache), whatever its case and spacing.
func TestCategorizeCachedAgrees(t *testing.T) {
	for _, n := range []string{"OpenSSL", " libssl3 ", "linux-image-amd64", "zlib1g", "LINUX-FIRMWARE"} {
		want := lookupCategory(strings.ToLower(strings.TrimSpace(n)))
		if want == "" {
			want = CategoryOther
		}
		for range 2 {
			if got := Categorize("", n); got != want {
				t.Errorf("Categorize(%q) = %q, want %q", n, got, want)
			}
		}
	}
}
