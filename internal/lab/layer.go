package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/patchpilot/patchpilot"
)

// The layer sits between the debootstrap base and each host's writable
// layer. It turns the plain base into a lab host: no machine id, no host
// keys (each host gets its own), sshd configured for key logins, timers that
// would take the dpkg lock at random masked, the Debian mirror replaced by the
// lab's repository, and the pp-* packages installed at their first version.
// It is an overlay upper directory, used read-only as a lower layer.

// layerVersion changes when layerScript or the files below change meaning.
const layerVersion = "3"

// maskedUnits would run at random times in a host, holding the dpkg lock or
// using the disk while a test looks.
var maskedUnits = []string{
	"apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer", "e2scrub_all.timer",
	"fstrim.timer", "e2scrub_reap.service", "systemd-timesyncd.service", "getty@tty1.service",
}

// sshdLabConfig applies to every host; the listen address is per host.
const sshdLabConfig = `# Written by patchpilot lab.
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
HostKey /etc/ssh/ssh_host_ed25519_key
UseDNS no
MaxStartups 100:30:200
MaxSessions 50
`

// layerScript runs inside the layer (chroot) with the repository mounted.
const layerScript = `set -e
export DEBIAN_FRONTEND=noninteractive LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
cd /
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id /etc/ssh/ssh_host_*
rm -f /etc/apt/sources.list
dpkg -i ` + repoMount + `/INSTALLED
apt-get update -qq
apt-get clean
rm -rf /var/log/apt/* /var/cache/apt/*.bin
`

func layerKey(base, repo string) string {
	h := sha256.Sum256([]byte(layerVersion + "\n" + base + "\n" + repo + "\n" + sshdLabConfig + layerScript + strings.Join(maskedUnits, ",")))
	return hex.EncodeToString(h[:])[:16]
}

// ensureLayer returns the cached layer for base and repo, building it when
// missing.
func ensureLayer(ctx context.Context, o Options, base, repo string) (string, error) {
	dir := filepath.Join(o.CacheDir, "layer-"+layerKey(base, repo))
	return buildLayer(o, dir, "lab", []string{base}, layerMounts{repo: repo}, func(merged string) error {
		files := map[string]string{
			"etc/ssh/sshd_config.d/patchpilot-lab.conf":  sshdLabConfig,
			"etc/apt/sources.list.d/patchpilot-lab.list": "# The lab's local repository; hosts have no other source.\ndeb [trusted=yes] file:" + repoMount + " ./\n",
			"etc/apt/apt.conf.d/90patchpilot-lab":        "APT::Install-Recommends \"false\";\nAcquire::Languages \"none\";\n",
		}
		for rel, content := range files {
			p := filepath.Join(merged, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return patchpilot.Errorf(patchpilot.EINTERNAL, "write %s: %w", rel, err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				return patchpilot.Errorf(patchpilot.EINTERNAL, "write %s: %w", rel, err)
			}
		}
		for _, u := range maskedUnits {
			p := filepath.Join(merged, "etc/systemd/system", u)
			_ = os.Remove(p)
			if err := os.Symlink("/dev/null", p); err != nil {
				return patchpilot.Errorf(patchpilot.EINTERNAL, "mask %s: %w", u, err)
			}
		}
		var installed []string
		for _, p := range repoPackages() {
			if p.Installed {
				installed = append(installed, repoMount+"/"+p.debName())
			}
		}
		script := strings.Replace(layerScript, repoMount+"/INSTALLED", strings.Join(installed, " "), 1)
		if _, err := run(ctx, "chroot", merged, "/bin/sh", "-c", script); err != nil {
			return patchpilot.Errorf(patchpilot.EINTERNAL, "prepare the lab layer: %w", err)
		}
		// The mount point of the repository stays in the layer: nspawn
		// binds onto it.
		return nil
	})
}

// layerMounts are what a layer's build mounts into its tree besides the
// overlay: /proc for package scripts, and the lab repository (read-only,
// at repoMount) when repo is set.
type layerMounts struct {
	proc bool
	repo string
}

// buildLayer returns the cached layer at dir, building it when missing:
// an overlay of lowers (topmost first) is mounted in a temporary
// directory of the cache, with mounts, and build makes the layer in the
// merged tree; the overlay's upper directory is then renamed to dir, so
// that only a finished layer is ever found there. kind names the layer in
// logs and errors. The caller holds the cache lock.
func buildLayer(o Options, dir, kind string, lowers []string, mounts layerMounts, build func(merged string) error) (string, error) {
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	tmp, err := os.MkdirTemp(o.CacheDir, ".tmp-"+kind+"-")
	if err != nil {
		return "", patchpilot.Errorf(patchpilot.EINTERNAL, "create the %s layer's directory: %w", kind, err)
	}
	defer func() {
		_ = unmountAll(tmp)
		_ = os.RemoveAll(tmp)
	}()
	upper, work, merged := filepath.Join(tmp, "upper"), filepath.Join(tmp, "work"), filepath.Join(tmp, "merged")
	for _, d := range []string{upper, work, merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", patchpilot.Errorf(patchpilot.EINTERNAL, "create the %s layer's directory: %w", kind, err)
		}
	}
	if err := mountOverlay(lowers, upper, work, merged); err != nil {
		return "", err
	}
	if mounts.proc {
		if err := syscall.Mount("proc", filepath.Join(merged, "proc"), "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
			return "", patchpilot.Errorf(patchpilot.EINTERNAL, "mount /proc in the %s layer: %w", kind, err)
		}
	}
	if mounts.repo != "" {
		repoIn := filepath.Join(merged, repoMount)
		if err := os.MkdirAll(repoIn, 0o755); err != nil {
			return "", patchpilot.Errorf(patchpilot.EINTERNAL, "create %s: %w", repoMount, err)
		}
		if err := syscall.Mount(mounts.repo, repoIn, "", syscall.MS_BIND, ""); err != nil {
			return "", patchpilot.Errorf(patchpilot.EINTERNAL, "bind the repository: %w", err)
		}
		_ = syscall.Mount("", repoIn, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, "")
	}
	if err := build(merged); err != nil {
		return "", err
	}
	if err := unmountAll(merged); err != nil {
		return "", err
	}
	if err := os.Rename(upper, dir); err != nil {
		if _, serr := os.Stat(dir); serr == nil {
			return dir, nil
		}
		return "", patchpilot.Errorf(patchpilot.EINTERNAL, "store the %s layer: %w", kind, err)
	}
	o.Logger.Info("built the lab layer", "layer", kind, "dir", dir)
	return dir, nil
}

// mountOverlay mounts an overlay of lowers (topmost first) with upper and work.
func mountOverlay(lowers []string, upper, work, target string) error {
	opts := "lowerdir=" + strings.Join(lowers, ":") + ",upperdir=" + upper + ",workdir=" + work
	if err := syscall.Mount("overlay", target, "overlay", 0, opts); err != nil {
		return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "mount overlay on %s: %w", target, err).
			WithHint("the lab needs overlayfs (modprobe overlay) and a cache directory on a file system that supports it, such as ext4 or xfs")
	}
	return nil
}
