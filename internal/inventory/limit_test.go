package inventory

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/patchpilot/patchpilot"
)

func TestLimit(t *testing.T) {
	res := loadTest(t, filepath.Join("testdata", "ini", "inventory.ini"))
	hosts := res.Hosts
	web := []string{"web01.example.com", "web02.example.com", "web03.example.com", "web04.example.com"}
	db := []string{"db-a", "db-b", "db-c"}
	cases := []struct {
		pattern string
		want    []string
	}{
		{"", names(hosts)},
		{"all", names(hosts)},
		{"*", names(hosts)},
		{"web", web},
		{"db-b", []string{"db-b"}},
		{"web*", web},
		{"db-?", db},
		{"web:db", append(append([]string{}, web...), db...)},
		{"db,web", append(append([]string{}, web...), db...)}, // inventory order, not pattern order
		{"prod:!db", web},
		{"prod,!web0[12]*", []string{"web03.example.com", "web04.example.com", "db-a", "db-b", "db-c"}},
		{"prod:&db", db},
		{"web:&db", []string{}},
		{"!prod", []string{"bastion.example.com", "stage1"}},
		{"&staging", []string{"stage1"}},
		{"ungrouped", []string{"bastion.example.com"}},
		{"~web0[13]", []string{"web01.example.com", "web03.example.com"}},
		{"~(db|stage)", []string{"db-a", "db-b", "db-c", "stage1"}},
		{"~.*example", []string{"bastion.example.com", "web01.example.com", "web02.example.com", "web03.example.com", "web04.example.com"}},
		{" web , !web04.example.com ", web[:3]},
		{"nomatch*", []string{}},
	}
	for _, c := range cases {
		got, err := Limit(hosts, c.pattern)
		if err != nil {
			t.Errorf("Limit(%q): %v", c.pattern, err)
			continue
		}
		if g := names(got); !reflect.DeepEqual(g, c.want) {
			t.Errorf("Limit(%q) = %v, want %v", c.pattern, g, c.want)
		}
	}
}

func TestLimitErrors(t *testing.T) {
	res := loadTest(t, filepath.Join("testdata", "ini", "inventory.ini"))
	cases := []struct{ pattern, want string }{
		{"web9", `limit "web9" matches no host or group`},
		{"web,!dbx", `limit "dbx" matches no host or group`},
		{"web:&nope", `limit "nope" matches no host or group`},
		{"~web[", `invalid regular expression "web["`},
		{"web:!", "empty term"},
	}
	for _, c := range cases {
		_, err := Limit(res.Hosts, c.pattern)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Limit(%q) error = %v, want %q", c.pattern, err, c.want)
			continue
		}
		if patchpilot.ErrorCode(err) != patchpilot.EINVALID {
			t.Errorf("Limit(%q) code = %q, want invalid", c.pattern, patchpilot.ErrorCode(err))
		}
	}
}
