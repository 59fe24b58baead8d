package debian

import (
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// ParseInstalled parses the output of InstalledCommand into package →
// version. Packages dpkg knows only by their configuration files ("rc")
// or not at all ("un") are not installed and are left out; a package
// half-way through a change (unpacked, half-configured, ...) has its
// version, since that version's files are on disk.
func ParseInstalled(out []byte) (map[string]string, error) {
	got := map[string]string{}
	for n, line := range strings.Split(string(out), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "dpkg-query line %d: want 3 tab-separated fields (package, version, status), got %d", n+1, len(f))
		}
		name, version, abbrev := f[0], f[1], strings.TrimRight(f[2], " ")
		if name == "" || len(abbrev) < 2 {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "dpkg-query line %d: want a package name and a status like \"ii\", got %q and %q", n+1, truncate(name, 80), truncate(f[2], 10))
		}
		if abbrev[1] == 'n' || abbrev[1] == 'c' {
			continue
		}
		if _, known := dpkgStatus[abbrev[1]]; !known {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "dpkg-query line %d: unknown package status %q", n+1, truncate(abbrev, 10))
		}
		if version == "" {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "dpkg-query line %d: installed package %s has no version", n+1, truncate(name, 80))
		}
		// Multi-Arch: same packages appear once per architecture with
		// the same version; keep the first.
		if _, dup := got[name]; !dup {
			got[name] = version
		}
	}
	return got, nil
}

// ParseMadison parses "apt-cache madison" into package → versions offered:
//
//	pp-demo-web |      1.1.0 | file:/srv/pp-repo ./ Packages
//
// Source lines ("... Sources") are not binary packages and are skipped.
func ParseMadison(out []byte) (map[string][]string, error) {
	got := map[string][]string{}
	for n, line := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, "|")
		if len(f) != 3 {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "apt-cache madison line %d: want 3 \"|\"-separated fields (package, version, source), got %d", n+1, len(f))
		}
		name, version, src := strings.TrimSpace(f[0]), strings.TrimSpace(f[1]), strings.TrimSpace(f[2])
		if name == "" || version == "" {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "apt-cache madison line %d: want a package and a version, got %q", n+1, truncate(line, 120))
		}
		if strings.HasSuffix(src, " Sources") {
			continue
		}
		got[name] = append(got[name], version)
	}
	return got, nil
}

// ParseFreeSpace parses "df -B1 --output=avail": a header, then bytes.
func ParseFreeSpace(out []byte) (int64, error) {
	lines := strings.Fields(string(out))
	if len(lines) != 2 || lines[0] != "Avail" {
		return 0, patchpilot.Errorf(patchpilot.EINVALID, "df: want a header \"Avail\" and a number of bytes, got %q", truncate(string(out), 80))
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 {
		return 0, patchpilot.Errorf(patchpilot.EINVALID, "df: want a number of bytes, got %q", truncate(lines[1], 40))
	}
	return n, nil
}

// ParseHeld parses "apt-mark showhold": one package a line, possibly
// with an ":arch" qualifier.
func ParseHeld(out []byte) []string {
	var held []string
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), ":")
		if name != "" {
			held = append(held, name)
		}
	}
	return held
}

var (
	// versionNotFound is apt's "E: Version '9.9' for 'pp-demo-web' was
	// not found".
	versionNotFound = regexp.MustCompile(`Version '([^']+)' for '([^']+)' was not found`)
	// unableToLocate is "E: Unable to locate package nosuch".
	unableToLocate = regexp.MustCompile(`Unable to locate package (\S+)`)
)

// AptErrors is what a failed apt-get said: the pins it could not find and
// its "E:" lines.
type AptErrors struct {
	Unavailable []patchpilot.PackagePin
	LockHeld    bool
	Errors      []string
	// Downgrades are the packages apt listed under "The following
	// packages will be DOWNGRADED:"; DowngradeRefused is set when it
	// refused them ("Packages were downgraded and -y was used without
	// --allow-downgrades").
	Downgrades       []string
	DowngradeRefused bool
}

// downgradedHeader opens apt's list of packages a transaction downgrades;
// the names follow on indented lines.
const downgradedHeader = "The following packages will be DOWNGRADED:"

// ParseAptErrors reads apt's error output. The lock is held when apt says
// it could not get (or gave up waiting for) the dpkg lock:
//
//	E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 49 (python3)
//	E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?
//	E: Unable to lock the administration directory (/var/lib/dpkg/), is another process using it?
func ParseAptErrors(out []byte) AptErrors {
	var e AptErrors
	inDowngrades := false
	for _, line := range strings.Split(string(out), "\n") {
		if inDowngrades && strings.HasPrefix(line, " ") {
			e.Downgrades = append(e.Downgrades, strings.Fields(line)...)
			continue
		}
		inDowngrades = strings.TrimSpace(line) == downgradedHeader
		line = strings.TrimSpace(line)
		if strings.Contains(line, "-y was used without --allow-downgrades") {
			e.DowngradeRefused = true
		}
		if m := versionNotFound.FindStringSubmatch(line); m != nil {
			e.Unavailable = append(e.Unavailable, patchpilot.PackagePin{Name: m[2], Version: m[1]})
		} else if m := unableToLocate.FindStringSubmatch(line); m != nil {
			e.Unavailable = append(e.Unavailable, patchpilot.PackagePin{Name: m[1]})
		}
		if strings.Contains(line, "Could not get lock") || strings.Contains(line, "Unable to acquire the dpkg frontend lock") ||
			strings.Contains(line, "Unable to lock the administration directory") || strings.Contains(line, "Unable to lock directory") {
			e.LockHeld = true
		}
		if strings.HasPrefix(line, "E: ") {
			e.Errors = append(e.Errors, strings.TrimPrefix(line, "E: "))
		}
	}
	return e
}

// dpkgProgress matches what dpkg prints as it goes:
//
//	Unpacking pp-demo-web (1.1.0) over (1.0.0) ...
//	Unpacking pp-libdemo (1.1.0) ...
//	Removing pp-agent-legacy (1.0.0) ...
var dpkgProgress = regexp.MustCompile(`^(Unpacking|Removing|Purging configuration files for) ([^ :]+)(?::\S+)? \(([^)]+)\)(?: over \(([^)]+)\))? \.\.\.`)

// ParseDpkgProgress reads the changes a transaction made from dpkg's
// progress lines, in order, one per package (the last word wins: a package
// unpacked twice keeps its first From and its last To).
func ParseDpkgProgress(out []byte) []patchpilot.PackageChange {
	var changes []patchpilot.PackageChange
	at := map[string]int{}
	for _, line := range strings.Split(string(out), "\n") {
		// Progress lines may follow "(Reading database ... 100%" on
		// the same line.
		if i := strings.LastIndex(line, "currently installed.)"); i >= 0 {
			line = line[i+len("currently installed.)"):]
		}
		m := dpkgProgress.FindStringSubmatch(strings.TrimSpace(strings.TrimRight(line, "\r")))
		if m == nil {
			continue
		}
		c := patchpilot.PackageChange{Name: m[2]}
		switch m[1] {
		case "Unpacking":
			c.From, c.To = m[4], m[3]
		case "Removing":
			c.From = m[3]
		default:
			continue
		}
		if i, ok := at[c.Name]; ok {
			changes[i].To = c.To
			continue
		}
		at[c.Name] = len(changes)
		changes = append(changes, c)
	}
	return changes
}

// ParseDebInfo parses "dpkg-deb -f FILE Package Version".
func ParseDebInfo(out []byte) (name, version string, err error) {
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "Package":
			name = strings.TrimSpace(v)
		case "Version":
			version = strings.TrimSpace(v)
		}
	}
	if name == "" || version == "" {
		return "", "", patchpilot.Errorf(patchpilot.EINVALID, "dpkg-deb -f: want Package and Version fields, got %q", truncate(string(out), 120))
	}
	return name, version, nil
}

// NeedsReboot is the heuristic for packages whose new version takes effect
// only after a reboot, as far as can be told before installing them:
// kernels and their modules, the C library, the init system, D-Bus,
// CPU microcode (what Ubuntu's update-notifier and needrestart flag), and
// the lab's kernel-like package. After the change, the host's own
// /var/run/reboot-required is what counts.
func NeedsReboot(name string) bool {
	switch name {
	case "libc6", "systemd", "systemd-sysv", "dbus", "dbus-daemon", "dbus-broker",
		"intel-microcode", "amd64-microcode", "linux-base", "pp-kernel-demo":
		return true
	}
	for _, prefix := range []string{"linux-image-", "linux-modules-", "linux-firmware", "firmware-"} {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// outputTail is how much of a transaction's output a report keeps.
const outputTail = 8 << 10

// readingDatabase is dpkg's progress counter, printed without newlines.
var readingDatabase = regexp.MustCompile(`(\(Reading database \.\.\. \d+%)+`)

// tailOf returns the end of a transaction's output, without dpkg's
// "(Reading database ... 5%" progress counter.
func tailOf(out []byte) string {
	s := readingDatabase.ReplaceAllString(string(out), "")
	if len(s) > outputTail {
		s = "..." + s[len(s)-outputTail:]
	}
	return s
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ParsePreflightInputs splits PreflightInputsCommand's output into the
// fingerprint (the files' lines) and the free bytes of apt's cache.
func ParsePreflightInputs(out []byte) (string, int64, error) {
	files, df, ok := strings.Cut(string(out), "--\n")
	if !ok || !strings.Contains(files, "/var/lib/dpkg/status ") {
		return "", 0, patchpilot.Errorf(patchpilot.EINVALID, "preflight inputs: want the files' lines with /var/lib/dpkg/status, \"--\" and df's output, got %q", truncate(string(out), 80))
	}
	free, err := ParseFreeSpace([]byte(df))
	if err != nil {
		return "", 0, err
	}
	return files, free, nil
}
