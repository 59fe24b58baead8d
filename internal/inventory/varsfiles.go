package inventory

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/patchpilot/patchpilot"
)

// varsExts are the file name endings Ansible's host_group_vars plugin reads
// in group_vars/ and host_vars/ ("" is a file without an extension).
var varsExts = []string{".yml", ".yaml", ".json", ""}

// vaultHeader starts a file encrypted whole with ansible-vault.
const vaultHeader = "$ANSIBLE_VAULT;"

// varsIndex lists, for each name, the files of a group_vars/ or host_vars/
// directory that hold its variables: NAME, NAME.yml, NAME.yaml, NAME.json,
// and every such file under a directory NAME/, in lexical order. A missing
// directory is an empty index.
func varsIndex(dir string) (map[string][]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "read %s: %w", dir, err)
	}
	idx := map[string][]string{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		full := filepath.Join(dir, name)
		if e.IsDir() {
			files, err := varsDirFiles(full)
			if err != nil {
				return nil, err
			}
			idx[name] = append(idx[name], files...)
			continue
		}
		ext := filepath.Ext(name)
		if !contains(varsExts, ext) {
			// A name like "web.example.com" has an extension that is
			// part of the host name itself.
			ext = ""
		}
		base := strings.TrimSuffix(name, ext)
		idx[base] = append(idx[base], full)
	}
	for _, files := range idx {
		sort.Strings(files)
	}
	return idx, nil
}

// varsDirFiles lists the variable files under a NAME/ directory.
func varsDirFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != dir {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && contains(varsExts, filepath.Ext(d.Name())) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "read %s: %w", dir, err)
	}
	sort.Strings(out)
	return out, nil
}

// loadVarsFile reads one YAML (or JSON) file of variables. A file encrypted
// with ansible-vault is skipped with a warning: it usually holds the
// passwords patchpilot does not use anyway.
func loadVarsFile(path string) (vars, string, error) {
	data, err := readCapped(path, "variables file", MaxVarsFileBytes)
	if err != nil {
		return nil, "", err
	}
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte(vaultHeader)) {
		return nil, path + ": encrypted with ansible-vault; skipped (patchpilot needs no secrets from it)", nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, "", yamlSyntaxError(path, data, err)
	}
	if len(doc.Content) == 0 {
		return vars{}, "", nil
	}
	vs, err := yamlVars(path, doc.Content[0], "variables")
	return vs, "", err
}

// loadVarsDirs fills the resolver's group_vars and host_vars from the
// directories next to the inventory, for the groups and hosts it has.
func (r *resolver) loadVarsDirs(baseDir string) error {
	cache := map[string]vars{}
	load := func(dir string, names func(string) bool, into map[string][]vars) error {
		idx, err := varsIndex(dir)
		if err != nil {
			return err
		}
		for _, name := range sortedKeys(idx) {
			if !names(name) {
				continue
			}
			for _, f := range idx[name] {
				vs, ok := cache[f]
				if !ok {
					var warning string
					vs, warning, err = loadVarsFile(f)
					if err != nil {
						return err
					}
					if warning != "" {
						r.warn(f, "%s", warning)
					}
					cache[f] = vs
				}
				if vs != nil {
					into[name] = append(into[name], vs)
				}
			}
		}
		return nil
	}
	r.groupVars, r.hostVars = map[string][]vars{}, map[string][]vars{}
	if err := load(filepath.Join(baseDir, "group_vars"), func(n string) bool { _, ok := r.in.groups[n]; return ok }, r.groupVars); err != nil {
		return err
	}
	return load(filepath.Join(baseDir, "host_vars"), func(n string) bool { _, ok := r.in.hosts[n]; return ok }, r.hostVars)
}
