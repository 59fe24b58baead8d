package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// Profiles of a lab (Options.Profile). The default profile's hosts are
// small: the base, the lab layer, and the lab repository as their only
// apt source. The realistic profile's hosts look like real servers: the
// distribution's full package indexes in apt besides the lab repository,
// the packages of Debian's "standard" task installed, and a few packages
// more by role, so that collections are not flattered by tiny hosts.
const (
	ProfileDefault   = "default"
	ProfileRealistic = "realistic"
)

// Profiles lists the known profiles.
var Profiles = []string{ProfileDefault, ProfileRealistic}

// realisticVersion changes when realisticScript or rolePackages change
// meaning.
const realisticVersion = "1"

// rolePackages are installed on top of the standard set by role, so that
// the realistic hosts are not all identical.
var rolePackages = map[string][]string{
	"web":    {"nginx"},
	"worker": {"python3-yaml", "rsync"},
	"db":     {"redis-server", "sqlite3"},
}

// realisticScript runs in a chroot over the lab layer with the lab
// repository bound. It adds the mirror as a permanent apt source, fetches
// its indexes once (the hosts never fetch again unless told to refresh),
// and installs what Debian's standard task installs: every package of
// priority required, important or standard. policy-rc.d keeps services
// from starting in the chroot. The package cache is generated again after
// apt-get clean, as on a server after its daily apt-get update.
const realisticScript = `set -e
export DEBIAN_FRONTEND=noninteractive LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
printf '%s\n' 'MIRROR_LIST' > /etc/apt/sources.list.d/debian.list
apt-get update -qq
pkgs=$(cat /var/lib/apt/lists/*_dists_SUITE_main_binary-*_Packages | awk '
	/^Package:/ {p = $2}
	/^Priority:/ {if ($2 == "required" || $2 == "important" || $2 == "standard") print p}
' | sort -u)
apt-get install -y -q --no-install-recommends $pkgs
apt-get clean
apt-cache gencaches >/dev/null
rm -f /usr/sbin/policy-rc.d
rm -rf /var/log/apt/*
`

// roleScript installs one role's packages over the realistic layer.
const roleScript = `set -e
export DEBIAN_FRONTEND=noninteractive LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d
apt-get install -y -q --no-install-recommends PACKAGES
apt-get clean
apt-cache gencaches >/dev/null
rm -f /usr/sbin/policy-rc.d
rm -rf /var/log/apt/*
`

// validProfile reports whether p names a profile ("" is the default).
func validProfile(p string) bool {
	return p == "" || p == ProfileDefault || p == ProfileRealistic
}

// ensureRealistic returns, by role, the layers of the realistic profile
// over layer (topmost first): the role's own layer over the shared
// realistic layer. The caller holds the cache lock.
func ensureRealistic(ctx context.Context, o Options, base, layer, repo string) (map[string][]string, error) {
	mirror := o.Mirror
	if mirror == "" {
		m, err := FindMirror(o.Suite)
		if err != nil {
			return nil, err
		}
		mirror = m
	}
	source := fmt.Sprintf("deb %s %s main", mirror, o.Suite)
	script := strings.NewReplacer("MIRROR_LIST", source, "SUITE", o.Suite).Replace(realisticScript)
	common, err := ensureChrootLayer(ctx, o, "realistic", []string{layer, base}, repo, script, "the realistic profile's standard packages and "+source)
	if err != nil {
		return nil, err
	}
	roles := make([]string, 0, len(rolePackages))
	for r := range rolePackages {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	out := map[string][]string{}
	for _, role := range roles {
		s := strings.Replace(roleScript, "PACKAGES", strings.Join(rolePackages[role], " "), 1)
		dir, err := ensureChrootLayer(ctx, o, "role", []string{common, layer, base}, repo, s, "the "+role+" role's packages")
		if err != nil {
			return nil, err
		}
		out[role] = []string{dir, common}
	}
	return out, nil
}

// ensureChrootLayer returns the cached layer that script makes over lowers
// (topmost first) in a chroot with /proc and the lab repository mounted,
// building it when missing. It is keyed by the lowers and the script.
func ensureChrootLayer(ctx context.Context, o Options, kind string, lowers []string, repo, script, what string) (string, error) {
	h := sha256.Sum256([]byte(realisticVersion + "\n" + kind + "\n" + strings.Join(lowers, ":") + "\n" + script))
	dir := filepath.Join(o.CacheDir, kind+"-"+hex.EncodeToString(h[:])[:16])
	return buildLayer(o, dir, kind, lowers, layerMounts{proc: true, repo: repo}, func(merged string) error {
		o.Logger.Info("building a cached lab layer (once)", "layer", kind, "what", what)
		if out, err := run(ctx, "chroot", merged, "/bin/sh", "-c", script); err != nil {
			return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "build %s: %w: %s", what, err, tail(string(out), 600)).
				WithHint("check that the mirror is reachable, or name another with --mirror")
		}
		return nil
	})
}
