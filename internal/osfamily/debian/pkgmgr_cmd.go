package debian

import (
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Defaults of the package manager.
const (
	// DefaultArtifactDir is where rollback artifacts (.deb files of the
	// versions installed before a change) are kept on the host.
	DefaultArtifactDir = "/var/lib/patchpilot/artifacts"
	// AptArchives is apt's package cache, the second source of artifacts.
	AptArchives = "/var/cache/apt/archives"
	// RebootRequiredFile exists when an installed package asks for a
	// reboot (Debian and Ubuntu's update-notifier convention).
	RebootRequiredFile = "/var/run/reboot-required"
	// DefaultLockWait bounds the wait for the dpkg lock when the options
	// give none.
	DefaultLockWait = 60 * time.Second
	// commandTimeout bounds the short query commands.
	commandTimeout = 2 * time.Minute
)

// debName and debVersion are Debian policy's grammar (section 5.6.1 and
// 5.6.12): names are lowercase letters, digits and "+-.", at least two
// long, starting with a letter or digit; versions are [epoch:]upstream
// [-revision], the upstream part starting with a digit. Neither can start
// with "-", so no pin can pass as an option.
var (
	debName    = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]{1,127}$`)
	debVersion = regexp.MustCompile(`^(?:[0-9]{1,9}:)?[0-9][A-Za-z0-9.+~-]{0,127}$`)
	// artifactPath is what a rollback installs: an absolute path of a
	// .deb in a plain directory.
	artifactPath = regexp.MustCompile(`^/[A-Za-z0-9._+~%:/-]{1,500}\.deb$`)
)

// ValidName checks a package name against Debian's grammar.
func ValidName(name string) error {
	if !debName.MatchString(name) {
		return patchpilot.Errorf(patchpilot.EINVALID, "package name %q: expected a Debian package name (lowercase letters, digits, \"+-.\", starting with a letter or digit)", truncate(name, 80))
	}
	return nil
}

// ValidVersion checks a version against Debian's grammar.
func ValidVersion(v string) error {
	if !debVersion.MatchString(v) {
		return patchpilot.Errorf(patchpilot.EINVALID, "version %q: expected a Debian version ([epoch:]upstream[-revision], starting with a digit)", truncate(v, 80))
	}
	return nil
}

// ValidPins checks every pin; the first bad one is the error.
func ValidPins(pins []patchpilot.PackagePin) error {
	if len(pins) == 0 {
		return patchpilot.Errorf(patchpilot.EINVALID, "no packages to install: expected at least one name=version")
	}
	for i, p := range pins {
		if err := ValidName(p.Name); err != nil {
			return patchpilot.Errorf(patchpilot.EINVALID, "pin %d: %w", i+1, err)
		}
		if err := ValidVersion(p.Version); err != nil {
			return patchpilot.Errorf(patchpilot.EINVALID, "pin %d (%s): %w", i+1, p.Name, err)
		}
	}
	return nil
}

func validNames(names []string) error {
	for _, n := range names {
		if err := ValidName(n); err != nil {
			return err
		}
	}
	return nil
}

// InstalledFormat is the dpkg-query format of InstalledCommand.
const InstalledFormat = `${Package}\t${Version}\t${db:Status-Abbrev}\n`

// InstalledCommand asks dpkg for the named packages. dpkg-query exits 1
// when one of them is unknown.
func InstalledCommand(names []string) patchpilot.Command {
	return patchpilot.Command{Args: append([]string{"dpkg-query", "-W", "-f", InstalledFormat, "--"}, names...), Timeout: commandTimeout}
}

// lockTimeout renders a lock wait as apt's DPkg::Lock::Timeout (whole
// seconds, rounded up; apt >= 1.9.11 waits that long for the lock).
func lockTimeout(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return "DPkg::Lock::Timeout=" + strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

// LockCheckCommand takes and releases apt's locks, waiting up to wait:
// "apt-get check" locks the dpkg frontend and changes nothing.
func LockCheckCommand(wait time.Duration) patchpilot.Command {
	return patchpilot.Command{Args: []string{"apt-get", "-o", lockTimeout(wait), "check"}, Privileged: true, Timeout: wait + commandTimeout}
}

// FreeSpaceCommand prints the bytes available to apt's package cache.
func FreeSpaceCommand() patchpilot.Command {
	return patchpilot.Command{Args: []string{"df", "-B1", "--output=avail", AptArchives}, Timeout: commandTimeout}
}

// MadisonCommand lists the versions the repositories offer.
func MadisonCommand(names []string) patchpilot.Command {
	return patchpilot.Command{Args: append([]string{"apt-cache", "madison", "--"}, names...), Timeout: commandTimeout}
}

// HeldCommand lists the packages on hold.
func HeldCommand() patchpilot.Command {
	return patchpilot.Command{Args: []string{"apt-mark", "showhold"}, Timeout: commandTimeout}
}

// SimulateCommand is the dry run of installing the pins: the very
// transaction ApplyArgs builds for the same options, with apt's -s, so
// that apt applies the same checks (-y refuses a downgrade unless
// --allow-downgrades is given, and a changed held package) and a pin that
// passes the dry run is one that apply installs. NoLocking lets it run
// while another apt holds the lock (it reads, never writes).
func SimulateCommand(pins []patchpilot.PackagePin, opts InstallOptions) patchpilot.Command {
	opts.simulate = true
	return patchpilot.Command{Args: installArgs(pins, opts), Privileged: true, Timeout: commandTimeout}
}

// InstallOptions are what the apply transaction and its dry run share.
type InstallOptions struct {
	// LockWait bounds the wait for the dpkg lock.
	LockWait time.Duration
	// AllowDowngrade lets a pin older than the installed version replace
	// it: a plan that rolls a fleet back to a known-good version on
	// purpose. Without it apt refuses the transaction.
	AllowDowngrade bool
	// simulate makes it the dry run.
	simulate bool
}

// aptInstall is the common part of apply and rollback: non-interactive,
// keeping the installed configuration files (confdef takes the default
// answer where there is one, confold keeps the old file otherwise), no
// recommends, bounded wait for the lock.
func aptInstall(lockWait time.Duration, extra ...string) []string {
	args := []string{"env", "DEBIAN_FRONTEND=noninteractive", "NEEDRESTART_MODE=l",
		"apt-get", "install", "-y", "--no-install-recommends",
		"-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
		"-o", lockTimeout(lockWait)}
	return append(args, extra...)
}

// installArgs is the one builder of the transaction that installs the
// pins, for apply and for its dry run alike.
func installArgs(pins []patchpilot.PackagePin, opts InstallOptions) []string {
	var extra []string
	if opts.simulate {
		extra = append(extra, "-s", "-o", "Debug::NoLocking=1")
	}
	if opts.AllowDowngrade {
		extra = append(extra, "--allow-downgrades")
	}
	args := aptInstall(opts.LockWait, append(extra, "--")...)
	for _, p := range pins {
		args = append(args, p.String())
	}
	return args
}

// ApplyArgs is the transaction that installs the pins. It refuses
// downgrades (apt's default with -y) unless opts.AllowDowngrade: a pin
// older than the installed version is a mistake in the plan unless the
// plan says it rolls back on purpose.
func ApplyArgs(pins []patchpilot.PackagePin, opts InstallOptions) []string {
	opts.simulate = false
	return installArgs(pins, opts)
}

// RollbackArgs is the transaction that restores a snapshot: the kept
// .deb files (downgrades allowed; apt orders them and resolves their
// dependencies among each other), "name=version" from the repositories
// for packages with no kept file, and "name-" (apt's remove suffix) for
// packages the change installed. Removal keeps their configuration files,
// as a purge would delete data an operator may want; dpkg lists them as
// "rc" and a later install picks them up.
func RollbackArgs(snap patchpilot.PackageSnapshot, lockWait time.Duration) ([]string, error) {
	args := aptInstall(lockWait, "--allow-downgrades", "--")
	names := sortedKeys(snap.Versions)
	if len(names) == 0 {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "snapshot: no package versions to restore")
	}
	for _, name := range names {
		if err := ValidName(name); err != nil {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "snapshot: %w", err)
		}
		v := snap.Versions[name]
		switch a := snap.Artifacts[name]; {
		case v == "":
			args = append(args, name+"-")
		case a != "":
			if !artifactPath.MatchString(a) || strings.Contains(a, "/../") || path.Clean(a) != a {
				return nil, patchpilot.Errorf(patchpilot.EINVALID, "snapshot: artifact of %s: expected an absolute path of a .deb file, got %q", name, truncate(a, 120))
			}
			args = append(args, a)
		default:
			if err := ValidVersion(v); err != nil {
				return nil, patchpilot.Errorf(patchpilot.EINVALID, "snapshot: %s: %w", name, err)
			}
			args = append(args, name+"="+v)
		}
	}
	return args, nil
}

// inDir runs a command in a directory (apt-get download and dpkg-repack
// write to the current directory). The script is a constant.
func inDir(dir string, args ...string) patchpilot.Command {
	return patchpilot.Command{Args: append([]string{"/bin/sh", "-c", `cd "$1" && shift && exec "$@"`, "patchpilot-in-dir", dir}, args...),
		Privileged: true, Timeout: commandTimeout}
}

// DownloadCommand fetches name=version from the repositories into dir.
// The sandbox user is root because dir is root's.
func DownloadCommand(dir, name, version string) patchpilot.Command {
	return inDir(dir, "apt-get", "-o", "APT::Sandbox::User=root", "download", "--", name+"="+version)
}

// CacheCopyCommand copies apt's cached .deb of name=version into dir.
func CacheCopyCommand(dir, name, version, arch string) patchpilot.Command {
	return patchpilot.Command{Args: []string{"cp", "-p", "--", path.Join(AptArchives, DebFileName(name, version, arch)), dir + "/"},
		Privileged: true, Timeout: commandTimeout}
}

// RepackCommand rebuilds the installed package from its files into dir.
func RepackCommand(dir, name string) patchpilot.Command {
	return inDir(dir, "dpkg-repack", "--", name)
}

// DebInfoCommand reads a .deb's package name and version.
func DebInfoCommand(file string) patchpilot.Command {
	return patchpilot.Command{Args: []string{"dpkg-deb", "-f", file, "Package", "Version"}, Timeout: commandTimeout}
}

// DebFileName is the file name apt gives a downloaded package: the epoch's
// colon is written %3a.
func DebFileName(name, version, arch string) string {
	return name + "_" + strings.ReplaceAll(version, ":", "%3a") + "_" + arch + ".deb"
}

// RepackFileName is the file name dpkg-repack writes: without the epoch.
func RepackFileName(name, version, arch string) string {
	if _, v, ok := strings.Cut(version, ":"); ok {
		version = v
	}
	return name + "_" + version + "_" + arch + ".deb"
}

// preflightInputsScript prints the name, size, modification time and inode
// of every file apt's dry run reads to decide a transaction (dpkg's status
// and its pending updates, the repositories' indexes, apt's automatic
// flags, sources, preferences and configuration), then "--", then df's
// free space of apt's cache. dpkg and apt replace these files when they
// change them, so any change shows. It is a constant.
const preflightInputsScript = `stat -L -c '%n %s %.9Y %i' /var/lib/dpkg/status /var/lib/dpkg/updates/* /var/lib/apt/lists/*_* /var/lib/apt/extended_states /etc/apt/sources.list /etc/apt/sources.list.d/* /etc/apt/preferences /etc/apt/preferences.d/* /etc/apt/apt.conf /etc/apt/apt.conf.d/* 2>/dev/null
echo --
exec df -B1 --output=avail ` + AptArchives

// PreflightInputsCommand reads what preflightInputsScript prints.
func PreflightInputsCommand() patchpilot.Command {
	return patchpilot.Command{Args: []string{"/bin/sh", "-c", preflightInputsScript}, Timeout: commandTimeout}
}
