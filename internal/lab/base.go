package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// basePackages are installed into the debootstrap base on top of minbase.
// python3-apt lets Ansible's package_facts work on the hosts.
var basePackages = []string{
	"systemd", "systemd-sysv", "dbus", "openssh-server", "prometheus-node-exporter",
	"curl", "iproute2", "procps", "python3-apt",
}

// baseKey names a base by what defines it: the suite and the package list.
func baseKey(suite string) string {
	h := sha256.Sum256([]byte(suite + "\n" + strings.Join(basePackages, ",")))
	return suite + "-" + hex.EncodeToString(h[:])[:16]
}

// ensureBase returns the cached debootstrap base for suite, building it when
// it is missing. The build goes to a temporary directory that is renamed
// into place only when debootstrap succeeded, so a killed build is never
// reused.
func ensureBase(ctx context.Context, o Options) (string, error) {
	dir := filepath.Join(o.CacheDir, "base-"+baseKey(o.Suite))
	if _, err := os.Stat(filepath.Join(dir, "etc", "os-release")); err == nil {
		return dir, nil
	}
	mirror := o.Mirror
	if mirror == "" {
		m, err := FindMirror(o.Suite)
		if err != nil {
			return "", err
		}
		mirror = m
	}
	if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
		return "", patchpilot.Errorf(patchpilot.EINTERNAL, "create cache directory: %w", err)
	}
	tmp, err := os.MkdirTemp(o.CacheDir, ".tmp-base-")
	if err != nil {
		return "", patchpilot.Errorf(patchpilot.EINTERNAL, "create cache directory: %w", err)
	}
	defer func() {
		// A cut-short debootstrap leaves /proc and /sys mounted in the target.
		_ = unmountAll(tmp)
		_ = os.RemoveAll(tmp)
	}()
	o.Logger.Info("building the Debian base (once; cached)", "suite", o.Suite, "mirror", mirror, "dir", dir)
	start := time.Now()
	args := []string{"--variant=minbase", "--include=" + strings.Join(basePackages, ","), o.Suite, tmp, mirror}
	if _, err := runLines(ctx, o.BaseProgress, "debootstrap", args...); err != nil {
		return "", patchpilot.Errorf(patchpilot.EUNAVAILABLE, "debootstrap %s from %s: %w", o.Suite, mirror, err).
			WithHint("check that the mirror is reachable, or name another with --mirror")
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "etc", "os-release")); serr == nil {
			return dir, nil // another process built it first
		}
		return "", patchpilot.Errorf(patchpilot.EINTERNAL, "store the base: %w", err)
	}
	o.Logger.Info("base built", "took", time.Since(start).Round(time.Second))
	return dir, nil
}

// removeStaleTemps removes temporary build directories. Builds run under
// the cache lock, which the caller holds, so any that exist belong to builds
// that were killed; a killed layer build may have left mounts in its own.
func removeStaleTemps(cache string) {
	ents, _ := os.ReadDir(cache)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".tmp-") {
			continue
		}
		p := filepath.Join(cache, e.Name())
		if unmountAll(p) == nil {
			_ = os.RemoveAll(p)
		}
	}
}
