package integrations

import (
	"fmt"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

func TestCheckHostsAppliesTheFileInventoryRules(t *testing.T) {
	rec := func(i int) string { return fmt.Sprintf("rec %d", i) }
	good := []patchpilot.Host{{Name: "web1", Address: "10.0.0.1", Port: 2222, User: "deploy"}, {Name: "db_1.example.com", Address: "::1"}, {Name: "c", Address: "c.example.com"}}
	if err := CheckHosts(good, rec); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		h    patchpilot.Host
		want string
	}{
		{patchpilot.Host{}, "rec 0: name: the host name is missing"},
		{patchpilot.Host{Name: "-oProxyCommand=x"}, `rec 0: name: expected a host name without spaces`},
		{patchpilot.Host{Name: "a b"}, `got "a b"`},
		{patchpilot.Host{Name: "a\x01"}, `name: expected`},
		{patchpilot.Host{Name: "a", User: "root -oX"}, `rec 0 (a): user: expected`},
		{patchpilot.Host{Name: "a", Address: "-oProxyCommand=id"}, `rec 0 (a): address: expected`},
		{patchpilot.Host{Name: "a", Port: 70000}, `rec 0 (a): port: expected 1 to 65535, got 70000`},
		{patchpilot.Host{Name: "a", Labels: map[string]string{"": "x"}}, `labels: a label has an empty name`},
	} {
		if err := CheckHosts([]patchpilot.Host{c.h}, rec); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", c.h, err, c.want)
		}
	}
	err := CheckHosts([]patchpilot.Host{{Name: "a"}, {Name: "b"}, {Name: "a"}}, rec)
	if err == nil || err.Error() != `rec 2: name: "a" is already rec 0` {
		t.Errorf("duplicate: %v", err)
	}
}
