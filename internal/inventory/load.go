// Package inventory reads the hosts patchpilot manages from Ansible
// inventories (INI or YAML, with group_vars/ and host_vars/), from
// patchpilot's own YAML host list, and imports facts that Ansible already
// gathered (fact caches and the output of the setup module).
//
// Inventories are read with Ansible's semantics, so that an operator's
// existing inventory means the same thing to patchpilot as to Ansible:
// groups and children, the implicit "all" and "ungrouped" groups, host
// ranges, and Ansible's variable precedence. Connection
// variables map to patchpilot.Host fields; role, env, criticality and group
// become labels. Passwords are never read into a Host: patchpilot logs in
// with keys or an agent, and says so in a warning.
//
// Variable precedence, lowest first, is Ansible's own order for the sources
// patchpilot reads (ansible-core's VARIABLE_PRECEDENCE, with group_vars/ and
// host_vars/ next to the inventory read as its host_group_vars plugin does):
//
//  1. the "all" group's variables written in the inventory file;
//  2. every other group's variables written in the inventory file, parent
//     groups before child groups (by depth below "all"; groups of equal
//     depth by ansible_group_priority, then by name);
//  3. group_vars/all;
//  4. group_vars/GROUP for the host's other groups, in the same order as 2;
//  5. the host's own variables written in the inventory file (a host
//     written in several places merges them, later lines winning);
//  6. host_vars/HOST.
//
// In short: all < parent group < child group < host, with each directory
// file overriding what the inventory file says at its level. group_vars
// and host_vars files are NAME, NAME.yml, NAME.yaml, NAME.json, or any such
// files under a directory NAME/, read in lexical order.
//
// Connection variables (the older ansible_ssh_* spellings are accepted too):
//
//	ansible_host                  -> Host.Address (defaults to the name)
//	ansible_port                  -> Host.Port
//	ansible_user                  -> Host.User
//	ansible_ssh_private_key_file  -> Host.KeyFile (~ expanded)
//	ansible_become                -> Host.Become (yes/no, true/false, 1/0)
//	ansible_ssh_common_args       -> Host.JumpHost (-J, -o ProxyJump=, ProxyCommand "ssh -W")
//
// Labels: role, env, criticality and group variables; each variable
// patchpilot_label_X sets label X; a patchpilot_labels mapping sets several.
// patchpilot_depends_on (a host or group variable: "db1:5432, cache1", or a
// list) sets the depends_on label, whose entries must be HOST, HOST:PORT or
// HOST:SERVICE. patchpilot_label_X beats the plain variables, which beat
// the mapping.
//
// patchpilot's own host list, for fleets without an Ansible inventory, is a
// YAML file decoded strictly (an unknown field is an error at its line and
// column):
//
//	defaults:            # optional; applies where a host does not say otherwise
//	  user: deploy
//	  key_file: ~/.ssh/fleet
//	  become: true
//	  labels: {env: prod}
//	hosts:
//	  - name: web1                 # required, unique
//	    address: 10.0.0.1          # optional, defaults to name
//	    port: 2222                 # optional, defaults to 22
//	    user: admin
//	    key_file: ~/.ssh/web
//	    become: false
//	    jump_host: bastion.example.com
//	    groups: [web, frontend]
//	    labels: {role: web, criticality: high}
package inventory

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/yamltext"
)

// Format is an inventory file format.
type Format string

// Inventory formats.
const (
	FormatINI      Format = "ini"      // Ansible INI inventory
	FormatYAML     Format = "yaml"     // Ansible YAML inventory
	FormatHostList Format = "hostlist" // patchpilot's YAML host list
	FormatDir      Format = "dir"      // a directory of inventory files
)

// Options control how an inventory is loaded. The zero value is usable.
type Options struct {
	// Home is the directory that a leading ~ in key file paths expands
	// to. Empty leaves such paths as written.
	Home string
}

// Result is a loaded inventory.
type Result struct {
	Hosts  []patchpilot.Host
	Format Format
	// Warnings are things an operator should know that do not stop the
	// load, such as password variables that patchpilot ignores. They
	// never contain a secret's value.
	Warnings []string
}

// Load reads an inventory file or directory and returns its hosts, with ~
// in key file paths expanded to the current user's home directory. Use
// LoadFile to see warnings or to choose the home directory.
func Load(path string) ([]patchpilot.Host, error) {
	home, _ := os.UserHomeDir()
	res, err := LoadFile(path, Options{Home: home})
	if err != nil {
		return nil, err
	}
	return res.Hosts, nil
}

// LoadFile reads an inventory: an Ansible INI or YAML inventory, a
// patchpilot host list, or a directory of such files (as Ansible reads an
// inventory directory). The format is chosen by extension (.ini, .yml,
// .yaml, .json) and otherwise by content.
func LoadFile(path string, opts Options) (*Result, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, openError(path, err)
	}
	if st.IsDir() {
		return loadDir(path, opts)
	}
	data, err := readCapped(path, "inventory file", MaxInventoryBytes)
	if err != nil {
		return nil, err
	}
	in := newInv()
	format, listed, err := parseFile(in, path, data, opts)
	if err != nil {
		return nil, err
	}
	return finish(in, listed, path, filepath.Dir(path), format, opts)
}

// loadDir reads every inventory file in a directory, in lexical order,
// except hidden files, group_vars/ and host_vars/, subdirectories, and
// files whose names end like backups or Ansible configuration.
func loadDir(dir string, opts Options) (*Result, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, openError(dir, err)
	}
	in := newInv()
	var listed []patchpilot.Host
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || ignoredInDir(name) {
			continue
		}
		p := filepath.Join(dir, name)
		data, err := readCapped(p, "inventory file", MaxInventoryBytes)
		if err != nil {
			return nil, err
		}
		_, hosts, err := parseFile(in, p, data, opts)
		if err != nil {
			return nil, err
		}
		listed = append(listed, hosts...)
	}
	return finish(in, listed, dir, dir, FormatDir, opts)
}

// ignoredInDir reports whether a file in an inventory directory is skipped,
// following Ansible's default inventory_ignore_extensions (except .ini,
// which patchpilot reads) plus documentation files.
func ignoredInDir(name string) bool {
	for _, suffix := range []string{"~", ".orig", ".bak", ".retry", ".pyc", ".pyo", ".cfg", ".md", ".txt", ".rst"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

// parseFile parses one inventory file into in (Ansible formats) or returns
// its hosts directly (host lists).
func parseFile(in *inv, path string, data []byte, opts Options) (Format, []patchpilot.Host, error) {
	ext := strings.ToLower(filepath.Ext(path))
	if ext == ".ini" {
		return FormatINI, nil, parseINI(in, path, data)
	}
	var doc yaml.Node
	yerr := yaml.Unmarshal(data, &doc)
	isYAMLExt := ext == ".yml" || ext == ".yaml" || ext == ".json"
	if yerr != nil {
		if isYAMLExt {
			return "", nil, yamlSyntaxError(path, data, yerr)
		}
		return FormatINI, nil, parseINI(in, path, data)
	}
	if len(doc.Content) == 0 {
		if isYAMLExt {
			return FormatYAML, nil, nil
		}
		return FormatINI, nil, parseINI(in, path, data)
	}
	root := deref(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		if isYAMLExt {
			return "", nil, errAt(nodePos(path, root), "expected a mapping (all: {hosts:, children:, vars:} or hosts: [...]), got %s", kindName(root))
		}
		return FormatINI, nil, parseINI(in, path, data)
	}
	if isHostList(root) {
		hosts, err := hostListLoader{file: path, home: opts.Home}.parse(root)
		return FormatHostList, hosts, err
	}
	return FormatYAML, nil, parseYAMLInventory(in, path, root)
}

// finish resolves the parsed inventory, adds listed hosts and checks that
// the result is usable.
func finish(in *inv, listed []patchpilot.Host, source, baseDir string, format Format, opts Options) (*Result, error) {
	r := &resolver{in: in, home: opts.Home, source: source, warned: map[string]bool{}}
	if err := r.loadVarsDirs(baseDir); err != nil {
		return nil, err
	}
	hosts, err := r.resolve()
	if err != nil {
		return nil, err
	}
	seen := map[string]string{}
	for _, h := range hosts {
		seen[h.Name] = h.Source
	}
	for _, h := range append(append([]patchpilot.Host{}, hosts...), listed...) {
		if err := checkHostText(h); err != nil {
			return nil, err
		}
	}
	for _, h := range listed {
		if src, dup := seen[h.Name]; dup {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: host %s is also defined in %s", h.Source, h.Name, src).
				WithHint("define each host in one inventory file")
		}
		seen[h.Name] = h.Source
		hosts = append(hosts, h)
	}
	if len(hosts) == 0 {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "%s: no hosts", source).
			WithHint("add hosts to the inventory, e.g. a line \"web1 ansible_host=10.0.0.1\" in INI or all: {hosts: {web1: {}}} in YAML")
	}
	sort.Strings(r.warnings)
	return &Result{Hosts: hosts, Format: format, Warnings: r.warnings}, nil
}

func openError(path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return patchpilot.Errorf(patchpilot.ENOTFOUND, "%s: no such file", path).
			WithHint("check the inventory path")
	}
	return patchpilot.Errorf(patchpilot.EINVALID, "%s: %w", path, err)
}

// yamlLineRE finds the line number in go.yaml.in/yaml/v3 error messages
// ("yaml: line 3: mapping values are not allowed in this context").
var yamlLineRE = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// yamlParserProblems are the messages of go.yaml.in/yaml/v3's parser (as
// opposed to its scanner). The library prints their line 0-based, one less
// than the line an editor shows, so yamlSyntaxError adds one.
var yamlParserProblems = []string{
	"did not find expected ",
	"found duplicate %",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// yamlSyntaxError rewrites a YAML parser error as file:line: message.
func yamlSyntaxError(path string, data []byte, err error) error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if yamltext.TabIndented(data, line) {
			// The parser's "found character that cannot start any
			// token" names no character, and an editor shows a tab as
			// spaces.
			return errAt(pos{file: path, line: line}, "invalid YAML: "+yamltext.TabIndentedText)
		}
		for _, p := range yamlParserProblems {
			if line > 0 && strings.HasPrefix(m[2], p) {
				line++
				break
			}
		}
		return errAt(pos{file: path, line: line}, "invalid YAML: %s", m[2])
	}
	return errAt(pos{file: path}, "invalid YAML: %s", msg)
}
