package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoadLargeInventory loads a fleet of the size patchpilot is built for
// (tens of thousands of hosts) to keep the loader free of quadratic steps.
func TestLoadLargeInventory(t *testing.T) {
	var b strings.Builder
	b.WriteString("[web]\nweb[00001:20000].example.com role=web\n[db]\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&b, "db%d ansible_host=10.1.%d.%d\n", i, i/250, i%250)
	}
	b.WriteString("[prod:children]\nweb\ndb\n")
	p := filepath.Join(t.TempDir(), "big.ini")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := LoadFile(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Hosts) != 25000 {
		t.Errorf("got %d hosts, want 25000", len(res.Hosts))
	}
	got, err := Limit(res.Hosts, "prod:&web:!web0001*") // web00010 to web00019 excluded
	if err != nil || len(got) != 20000-10 {
		t.Errorf("limit: %d hosts, %v; want %d", len(got), err, 20000-10)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("loading 25000 hosts took %v", d)
	}
}
