package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/lab/demoweb"
)

// demoMain is the main package of the built binary.
const demoMain = `package main

import (
	"os"

	"ppdemoweb/demoweb"
)

func main() { os.Exit(demoweb.Main(os.Args[1:], os.Stderr)) }
`

// demoSourceHash hashes the demo service's source, which keys its cache.
func demoSourceHash() (string, error) {
	h := sha256.New()
	names, err := fs.Glob(demoweb.Source, "*.go")
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := demoweb.Source.ReadFile(n)
		if err != nil {
			return "", err
		}
		h.Write([]byte(n + "\x00"))
		h.Write(b)
	}
	h.Write([]byte(demoMain + runtime.GOARCH))
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// goTool finds the Go toolchain: in PATH, else in the GOROOT this program
// was built with.
func goTool() (string, error) {
	if p, err := lookPath("go"); err == nil {
		return p, nil
	}
	if root := runtime.GOROOT(); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", patchpilot.Errorf(patchpilot.EUNAVAILABLE, "no Go toolchain: the lab builds its demo service (pp-demo-web) with go build").
		WithHint("install Go (https://go.dev/dl/ or apt-get install -y golang-go) and put it in PATH")
}

// ensureDemoBinary returns the path of the static pp-demo-web binary, built
// from the embedded source and cached by its hash.
func ensureDemoBinary(ctx context.Context, o Options) (path, hash string, err error) {
	hash, err = demoSourceHash()
	if err != nil {
		return "", "", patchpilot.Errorf(patchpilot.EINTERNAL, "hash the demo source: %w", err)
	}
	dir := filepath.Join(o.CacheDir, "pp-demo-web-"+hash)
	bin := filepath.Join(dir, "pp-demo-web")
	if _, err := os.Stat(bin); err == nil {
		return bin, hash, nil
	}
	gobin, err := goTool()
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
		return "", "", patchpilot.Errorf(patchpilot.EINTERNAL, "create cache directory: %w", err)
	}
	tmp, err := os.MkdirTemp(o.CacheDir, ".tmp-demo-")
	if err != nil {
		return "", "", patchpilot.Errorf(patchpilot.EINTERNAL, "create build directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "src")
	if err := os.MkdirAll(filepath.Join(src, "demoweb"), 0o755); err != nil {
		return "", "", patchpilot.Errorf(patchpilot.EINTERNAL, "create build directory: %w", err)
	}
	names, _ := fs.Glob(demoweb.Source, "*.go")
	files := map[string]string{"go.mod": "module ppdemoweb\n\ngo 1.22\n", "main.go": demoMain}
	for _, n := range names {
		b, _ := demoweb.Source.ReadFile(n)
		files[filepath.Join("demoweb", n)] = string(b)
	}
	for n, content := range files {
		if err := os.WriteFile(filepath.Join(src, n), []byte(content), 0o644); err != nil {
			return "", "", patchpilot.Errorf(patchpilot.EINTERNAL, "write demo source: %w", err)
		}
	}
	out := filepath.Join(tmp, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", "", patchpilot.Errorf(patchpilot.EINTERNAL, "create build directory: %w", err)
	}
	cmd, err := command(ctx, gobin, "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(out, "pp-demo-web"), ".")
	if err != nil {
		return "", "", err
	}
	cmd.Dir = src
	// The source uses only the standard library: no module download, no
	// workspace, the local toolchain only.
	cmd.Env = append(cmd.Env, "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local", "GOPROXY=off")
	if os.Getenv("GOCACHE") == "" && os.Getenv("HOME") == "" && os.Getenv("XDG_CACHE_HOME") == "" {
		cmd.Env = append(cmd.Env, "GOCACHE="+filepath.Join(o.CacheDir, "go-build"))
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", "", patchpilot.Errorf(patchpilot.EINTERNAL, "go build pp-demo-web: %w: %s", err, tail(string(b), 1500))
	}
	o.Logger.Info("built pp-demo-web", "hash", hash)
	if err := os.Rename(out, dir); err != nil {
		if _, serr := os.Stat(bin); serr == nil {
			return bin, hash, nil
		}
		return "", "", patchpilot.Errorf(patchpilot.EINTERNAL, "store pp-demo-web: %w", err)
	}
	return bin, hash, nil
}
