package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// Extra packages (Options.HostPackages) are Debian packages from the
// mirror that only some hosts need, such as Puppet for a compliance test:
// too large for every host's base. They are installed once into a cached
// layer above the lab layer (an overlay upper directory built in a chroot
// with the mirror as a temporary source), and the hosts that want them get
// it as their topmost lower layer. The host keeps the lab repository as its
// only apt source.

// extraVersion changes when extraScript changes meaning.
const extraVersion = "1"

// debPackageName is what Debian accepts as a package name.
var debPackageName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

// extraScript runs in the chroot. MIRROR_LIST and PACKAGES are replaced;
// the mirror's lists and archives stay out of the layer.
const extraScript = `set -e
export DEBIAN_FRONTEND=noninteractive LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
lists=$(mktemp -d) cache=$(mktemp -d)
printf '%s\n' 'MIRROR_LIST' > /tmp/patchpilot-mirror.list
opts="-o Dir::Etc::SourceList=/tmp/patchpilot-mirror.list -o Dir::Etc::SourceParts=/nonexistent -o Dir::State::Lists=$lists -o Dir::Cache::Archives=$cache -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache="
mkdir -p "$lists/partial" "$cache/partial"
apt-get $opts update -qq
apt-get $opts install -y -q --no-install-recommends PACKAGES
rm -rf "$lists" "$cache" /tmp/patchpilot-mirror.list
rm -rf /var/log/apt/* /var/cache/apt/*.bin
`

// extraKey names the extra layer of packages over a lab layer.
func extraKey(layer string, pkgs []string) string {
	h := sha256.Sum256([]byte(extraVersion + "\n" + layer + "\n" + strings.Join(pkgs, ",") + "\n" + extraScript))
	return hex.EncodeToString(h[:])[:16]
}

// validateHostPackages checks Options.HostPackages against the host count.
func validateHostPackages(hp map[string][]string, hosts int) error {
	for name, pkgs := range hp {
		known := false
		for i := 1; i <= hosts; i++ {
			if hostName(i) == name {
				known = true
			}
		}
		if !known {
			return patchpilot.Errorf(patchpilot.EINVALID, "host packages: %q is not a host of this lab (lab01 to %s)", name, hostName(hosts))
		}
		if len(pkgs) == 0 {
			return patchpilot.Errorf(patchpilot.EINVALID, "host packages: %s: no package named", name)
		}
		for _, p := range pkgs {
			if !debPackageName.MatchString(p) {
				return patchpilot.Errorf(patchpilot.EINVALID, "host packages: %s: %q is not a Debian package name", name, p)
			}
		}
	}
	return nil
}

// ensureExtra returns the cached layer holding pkgs over layer and base,
// building it when missing. The caller holds the cache lock.
func ensureExtra(ctx context.Context, o Options, base, layer string, pkgs []string) (string, error) {
	pkgs = append([]string(nil), pkgs...)
	sort.Strings(pkgs)
	dir := filepath.Join(o.CacheDir, "extra-"+extraKey(layer, pkgs))
	if _, err := os.Stat(dir); err == nil {
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
	return buildLayer(o, dir, "extra", []string{layer, base}, layerMounts{proc: true}, func(merged string) error {
		o.Logger.Info("installing extra packages into a cached layer (once)", "packages", strings.Join(pkgs, " "), "mirror", mirror)
		script := strings.NewReplacer("MIRROR_LIST", fmt.Sprintf("deb %s %s main", mirror, o.Suite), "PACKAGES", strings.Join(pkgs, " ")).Replace(extraScript)
		if out, err := run(ctx, "chroot", merged, "/bin/sh", "-c", script); err != nil {
			return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "install %s from %s: %w: %s", strings.Join(pkgs, " "), mirror, err, tail(string(out), 600)).
				WithHint("check that the mirror is reachable and serves the packages, or name another with --mirror")
		}
		return nil
	})
}
