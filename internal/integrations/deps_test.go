package integrations

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/patchpilot/patchpilot"

// TestServicesImportOnlyTheRootAndThisPackage keeps each service's package
// a client of its service: it speaks the root package's vocabulary and
// reads its settings through this package, and internal/app wires it.
// Tests may import what they need.
func TestServicesImportOnlyTheRootAndThisPackage(t *testing.T) {
	files, err := filepath.Glob("*/*.go")
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
			if strings.HasPrefix(path, module+"/") && path != module+"/internal/integrations" {
				t.Errorf("%s imports %s: a service's package imports only the root package and internal/integrations", name, path)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("checked %d files: the test must run in internal/integrations", checked)
	}
}
