package redhat

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// InstalledFormat is the rpm query format of InstalledCommand.
const InstalledFormat = `%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n`

// ParseInstalled parses "rpm -q --qf InstalledFormat NAMES": one line per
// installed package, "package NAME is not installed" for the others.
func ParseInstalled(out []byte) (map[string]string, error) {
	got := map[string]string{}
	for n, line := range strings.Split(string(out), "\n") {
		if line == "" || (strings.HasPrefix(line, "package ") && strings.HasSuffix(line, " is not installed")) {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 5 || f[0] == "" || f[2] == "" {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "rpm query line %d: want 5 tab-separated fields (name, epoch, version, release, arch), got %q", n+1, truncate(line, 120))
		}
		if _, dup := got[f[0]]; !dup {
			got[f[0]] = EVR(f[1], f[2], f[3])
		}
	}
	return got, nil
}

// Transaction is a parsed dnf transaction table.
type Transaction struct {
	Changes  []TransactionItem
	NoMatch  []string // arguments dnf found no package for
	LockWait bool     // dnf said it waits for another process's lock
	Errors   []string // "Error: ..." lines
}

// TransactionItem is one row of the table.
type TransactionItem struct {
	Action  string // install, upgrade, downgrade, remove, reinstall
	Name    string
	Arch    string
	Version string // the version the transaction installs, or the one it removes
}

// dnfSections maps dnf 4's table headings to actions.
var dnfSections = map[string]string{
	"Installing":                       "install",
	"Installing dependencies":          "install",
	"Installing weak dependencies":     "install",
	"Upgrading":                        "upgrade",
	"Downgrading":                      "downgrade",
	"Reinstalling":                     "reinstall",
	"Removing":                         "remove",
	"Removing dependent packages":      "remove",
	"Removing unused dependencies":     "remove",
	"Installing group/module packages": "install",
}

var noMatch = regexp.MustCompile(`^No match for argument: (\S+)`)

// ParseTransaction reads the transaction table dnf 4 prints before asking
// (and with --assumeno, before "Operation aborted."):
//
//	================================================================================
//	 Package            Architecture  Version               Repository        Size
//	================================================================================
//	Upgrading:
//	 pp-demo-web        x86_64        1.1.0-1.el9           pp-lab           2.3 M
//	Installing dependencies:
//	 ...
//	     replacing  pp-agent-legacy.noarch 1.0.0-1.el9
//
// Long names wrap: the rest of the row is on the next line. "replacing"
// lines (obsoletes) are removals.
func ParseTransaction(out []byte) Transaction {
	var t Transaction
	section := ""
	var pending []string // fields of a wrapped row
	for _, raw := range strings.Split(string(out), "\n") {
		line := strings.TrimRight(raw, "\r ")
		trimmed := strings.TrimSpace(line)
		if m := noMatch.FindStringSubmatch(trimmed); m != nil {
			t.NoMatch = append(t.NoMatch, m[1])
		}
		if strings.HasPrefix(trimmed, "Waiting for process with pid") {
			t.LockWait = true
		}
		if strings.HasPrefix(trimmed, "Error: ") {
			t.Errors = append(t.Errors, strings.TrimPrefix(trimmed, "Error: "))
		}
		if !strings.HasPrefix(line, " ") {
			// A heading starts a section; any other unindented line
			// ("====", "Transaction Summary") ends it.
			section, pending = dnfSections[strings.TrimSuffix(line, ":")], nil
			continue
		}
		if section == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "replacing" {
			name, arch, ok := splitNameArch(f[1])
			if ok {
				t.Changes = append(t.Changes, TransactionItem{Action: "remove", Name: name, Arch: arch, Version: f[2]})
			}
			continue
		}
		f = append(pending, f...)
		pending = nil
		if len(f) < 5 {
			pending = f // a wrapped row continues on the next line
			continue
		}
		t.Changes = append(t.Changes, TransactionItem{Action: section, Name: f[0], Arch: f[1], Version: f[2]})
	}
	return t
}

// ParseHistoryList returns the newest transaction id of "dnf history list"
// (0 when there is none):
//
//	ID     | Command line             | Date and time    | Action(s)      | Altered
//	--------------------------------------------------------------------------------
//	     7 | install -y pp-demo-web-1 | 2024-05-14 10:15 | Upgrade        |    1
func ParseHistoryList(out []byte) ([]int, error) {
	var ids []int
	for n, line := range strings.Split(string(out), "\n") {
		id, _, ok := strings.Cut(line, "|")
		id = strings.TrimSpace(id)
		if !ok || id == "ID" || id == "" {
			continue
		}
		v, err := strconv.Atoi(id)
		if err != nil || v <= 0 {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "dnf history list line %d: want a transaction id, got %q", n+1, truncate(id, 20))
		}
		ids = append(ids, v)
	}
	return ids, nil
}

// ParseVersionlock parses "dnf -q versionlock list": one locked (or, with
// a leading "!", excluded) package a line, as "name-[epoch:]version-release.*".
func ParseVersionlock(out []byte) []string {
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "!")
		if line == "" || strings.Contains(line, " ") {
			continue // headers and messages have spaces, entries do not
		}
		nevr := strings.TrimSuffix(line, ".*")
		r := strings.LastIndexByte(nevr, '-')
		if r <= 0 {
			continue
		}
		v := strings.LastIndexByte(nevr[:r], '-')
		if v <= 0 {
			continue
		}
		names = append(names, nevr[:v])
	}
	return names
}

// ParseFreeSpace parses "df -B1 --output=avail": a header, then bytes.
func ParseFreeSpace(out []byte) (int64, error) {
	f := strings.Fields(string(out))
	if len(f) != 2 || f[0] != "Avail" {
		return 0, patchpilot.Errorf(patchpilot.EINVALID, "df: want a header \"Avail\" and a number of bytes, got %q", truncate(string(out), 80))
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || n < 0 {
		return 0, patchpilot.Errorf(patchpilot.EINVALID, "df: want a number of bytes, got %q", truncate(f[1], 40))
	}
	return n, nil
}

// NeedsReboot is the heuristic for packages that take effect only after a
// reboot: the list dnf's needs-restarting -r uses (kernel, kernel-rt,
// glibc, linux-firmware, systemd, udev, openssl-libs, gnutls, dbus), with
// the kernel's split packages and dbus-broker, which EL9 uses.
func NeedsReboot(name string) bool {
	switch name {
	case "kernel", "kernel-rt", "kernel-core", "glibc", "linux-firmware", "systemd", "udev",
		"openssl-libs", "gnutls", "dbus", "dbus-broker", "microcode_ctl", "pp-kernel-demo":
		return true
	}
	return strings.HasPrefix(name, "kernel-modules") || strings.HasPrefix(name, "kernel-rt-")
}
