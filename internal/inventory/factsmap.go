package inventory

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
)

// factGetter reads typed values out of a fact dictionary. Setup facts are
// prefixed "ansible_" in fact caches and in setup output; newer tools and
// caches written with fact injection off store them unprefixed. Both are
// read, the prefixed key first. Type errors name the field path.
type factGetter struct {
	facts  map[string]any
	prefix string // "ansible_facts." when the facts came wrapped
	file   string
}

// lookup finds a fact by its unprefixed name and returns the key it was
// stored under.
func (g factGetter) lookup(name string) (any, string, bool) {
	for _, k := range []string{"ansible_" + name, name} {
		if v, ok := g.facts[k]; ok && v != nil {
			return v, k, true
		}
	}
	return nil, "ansible_" + name, false
}

func (g factGetter) typeErr(path, want string, got any) error {
	return errAt(pos{file: g.file}, "%s%s: expected %s, got %s", g.prefix, path, want, jsonTypeName(got))
}

func (g factGetter) str(name string) (string, error) {
	v, key, ok := g.lookup(name)
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", g.typeErr(key, "a string", v)
	}
	return s, nil
}

func (g factGetter) obj(name string) (map[string]any, string, error) {
	v, key, ok := g.lookup(name)
	if !ok {
		return nil, key, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, key, g.typeErr(key, "an object", v)
	}
	return m, key, nil
}

// distroIDs maps Ansible's ansible_distribution to os-release IDs, for the
// names that do not simply lowercase to their ID.
var distroIDs = map[string]string{
	"RedHat":              "rhel",
	"OracleLinux":         "ol",
	"Amazon":              "amzn",
	"SLES":                "sles",
	"SLES_SAP":            "sles_sap",
	"SLED":                "sled",
	"openSUSE Leap":       "opensuse-leap",
	"openSUSE Tumbleweed": "opensuse-tumbleweed",
	"openSUSE":            "opensuse",
	"Linux Mint":          "linuxmint",
	"Pop!_OS":             "pop",
	"Rocky":               "rocky",
	"AlmaLinux":           "almalinux",
	"CentOS":              "centos",
	"Fedora":              "fedora",
	"Debian":              "debian",
	"Ubuntu":              "ubuntu",
	"Kali":                "kali",
	"Raspbian":            "raspbian",
}

// osID maps an Ansible distribution name to an os-release style ID.
func osID(distribution string) string {
	if id, ok := distroIDs[distribution]; ok {
		return id
	}
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(distribution)), " ", "-")
}

// familyOf maps ansible_os_family, falling back to the distribution ID.
func familyOf(osFamily, id string) patchpilot.OSFamily {
	switch strings.ToLower(osFamily) {
	case "debian":
		return patchpilot.FamilyDebian
	case "redhat":
		return patchpilot.FamilyRedHat
	case "suse":
		return patchpilot.FamilySUSE
	}
	return osfamily.FromOSRelease(id, nil)
}

// osVersion picks the os-release VERSION_ID style version: Debian's
// VERSION_ID is its major release ("12"), while Ubuntu, the Red Hat family
// and SUSE use the full version ("22.04", "9.4", "15.5").
func osVersion(id, version, major string) string {
	if id == "debian" || id == "raspbian" {
		if _, err := strconv.Atoi(major); err == nil {
			return major
		}
	}
	if version == "" || version == "NA" || version == "N/A" {
		return major
	}
	return version
}

// mapFacts turns one host's merged fact dictionary into patchpilot types.
func mapFacts(name string, hf *hostFacts) (Imported, error) {
	g := factGetter{facts: hf.facts, prefix: hf.prefix, file: hf.file}
	var s struct{ distro, version, major, family, release, kernel, arch, hostname, fqdn string }
	for _, f := range []struct {
		key string
		dst *string
	}{
		{"distribution", &s.distro}, {"distribution_version", &s.version},
		{"distribution_major_version", &s.major}, {"os_family", &s.family},
		{"distribution_release", &s.release}, {"kernel", &s.kernel},
		{"architecture", &s.arch}, {"hostname", &s.hostname}, {"fqdn", &s.fqdn},
	} {
		v, err := g.str(f.key)
		if err != nil {
			return Imported{}, err
		}
		*f.dst = v
	}
	if s.distro == "" {
		return Imported{}, errAt(pos{file: hf.file}, "host %s: %sansible_distribution: missing", name, hf.prefix).
			WithHint("gather the facts with the setup module (gather_facts: true), not only package_facts")
	}
	id := osID(s.distro)
	facts := patchpilot.Facts{
		Host:       name,
		Source:     FactsSource,
		Hostname:   s.hostname,
		OSFamily:   familyOf(s.family, id),
		OSName:     id,
		OSVersion:  osVersion(id, s.version, s.major),
		OSCodename: s.release,
		Kernel:     s.kernel,
		Arch:       s.arch,
	}
	if strings.Contains(s.fqdn, ".") && !strings.HasPrefix(s.fqdn, "localhost") {
		facts.Hostname = s.fqdn
	}
	at, err := collectedAt(g, hf.mtime)
	if err != nil {
		return Imported{}, err
	}
	facts.CollectedAt = at
	if facts.Packages, facts.PackagesKnown, err = packagesFrom(g); err != nil {
		return Imported{}, err
	}
	if facts.Services, err = servicesFrom(g); err != nil {
		return Imported{}, err
	}
	host := patchpilot.Host{Name: name, Address: name, Source: hf.file}
	ipv4, key, err := g.obj("default_ipv4")
	if err != nil {
		return Imported{}, err
	}
	if addr, ok := ipv4["address"]; ok {
		a, ok := addr.(string)
		if !ok {
			return Imported{}, g.typeErr(key+".address", "a string", addr)
		}
		if a != "" {
			host.Address = a
		}
	}
	return Imported{Host: host, Facts: facts}, nil
}

// collectedAt reads when the facts were gathered from ansible_date_time,
// falling back to the file's modification time.
func collectedAt(g factGetter, mtime time.Time) (time.Time, error) {
	dt, key, err := g.obj("date_time")
	if err != nil || dt == nil {
		return mtime.UTC(), err
	}
	if v, ok := dt["iso8601"]; ok {
		s, ok := v.(string)
		if !ok {
			return time.Time{}, g.typeErr(key+".iso8601", "a string", v)
		}
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t.UTC(), nil
		}
	}
	if v, ok := dt["epoch"]; ok {
		s, _ := v.(string)
		if n, isNum := v.(json.Number); isNum {
			s = n.String()
		}
		if sec, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(sec, 0).UTC(), nil
		}
	}
	return mtime.UTC(), nil
}

// packagesFrom maps package_facts' "packages": a dictionary from package
// name to a list of installed instances. Debian versions are taken as is
// (they carry their epoch); rpm versions become [EPOCH:]VERSION-RELEASE.
func packagesFrom(g factGetter) ([]patchpilot.Package, bool, error) {
	raw, key, err := g.obj("packages")
	if err != nil || raw == nil {
		return nil, false, err
	}
	out := []patchpilot.Package{}
	for _, name := range sortedKeys(raw) {
		list, ok := raw[name].([]any)
		if !ok {
			return nil, false, g.typeErr(key+"."+name, "an array", raw[name])
		}
		for i, e := range list {
			path := key + "." + name + "[" + strconv.Itoa(i) + "]"
			m, ok := e.(map[string]any)
			if !ok {
				return nil, false, g.typeErr(path, "an object", e)
			}
			p, err := packageFrom(g, path, name, m)
			if err != nil {
				return nil, false, err
			}
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Arch < out[j].Arch
	})
	return out, true, nil
}

func packageFrom(g factGetter, path, name string, m map[string]any) (patchpilot.Package, error) {
	field := func(k string) (string, error) {
		v, ok := m[k]
		if !ok || v == nil {
			return "", nil
		}
		switch x := v.(type) {
		case string:
			return x, nil
		case json.Number:
			return x.String(), nil
		}
		return "", g.typeErr(path+"."+k, "a string", v)
	}
	var f struct{ name, version, release, epoch, arch string }
	for _, kv := range []struct {
		k   string
		dst *string
	}{{"name", &f.name}, {"version", &f.version}, {"release", &f.release}, {"epoch", &f.epoch}, {"arch", &f.arch}} {
		v, err := field(kv.k)
		if err != nil {
			return patchpilot.Package{}, err
		}
		*kv.dst = v
	}
	if f.name == "" {
		f.name = name
	}
	if f.version == "" {
		return patchpilot.Package{}, g.typeErr(path+".version", "a version string", nil)
	}
	version := f.version
	if f.release != "" {
		version += "-" + f.release
		if f.epoch != "" && f.epoch != "0" {
			version = f.epoch + ":" + version
		}
	}
	return patchpilot.Package{Name: f.name, Version: version, Arch: f.arch}, nil
}

// servicesFrom maps service_facts' "services" to the running services.
func servicesFrom(g factGetter) ([]string, error) {
	raw, key, err := g.obj("services")
	if err != nil || raw == nil {
		return nil, err
	}
	var out []string
	for _, name := range sortedKeys(raw) {
		m, ok := raw[name].(map[string]any)
		if !ok {
			return nil, g.typeErr(key+"."+name, "an object", raw[name])
		}
		state, ok := m["state"].(string)
		if !ok && m["state"] != nil {
			return nil, g.typeErr(key+"."+name+".state", "a string", m["state"])
		}
		if state == "running" {
			out = append(out, name)
		}
	}
	return out, nil
}
