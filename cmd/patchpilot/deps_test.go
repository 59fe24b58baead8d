package main

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// module is this module's path, as go.mod names it.
const module = "github.com/patchpilot/patchpilot"

// allowedImports are the packages of this module the CLI may import:
// internal/app is the one way into the use cases, so that every front end
// (this CLI, an HTTP server standing on internal/app) shares one wiring;
// the root package is the vocabulary the use cases speak; internal/lab
// runs the 'lab' commands, which are test tooling, not use cases.
var allowedImports = map[string]bool{
	module:                      true,
	module + "/internal/app":    true,
	module + "/internal/lab":    true,
	module + "/internal/server": true,
}

// TestImportsOnlyTheApp fails when a non-test file of the CLI imports a
// package of this module other than the app, the root package and the
// lab. Tests may import what they need to set up labs and fixtures.
func TestImportsOnlyTheApp(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatalf("%s: import %s: %v", name, imp.Path.Value, err)
			}
			if (path == module || strings.HasPrefix(path, module+"/")) && !allowedImports[path] {
				t.Errorf("%s imports %s: the CLI reaches the use cases through internal/app only (add what it needs there)", name, path)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no Go files found: the test must run in the package's directory")
	}
}
