// Package suse collects facts from SLES and openSUSE hosts with rpm and
// zypper. Commands are argument lists; parsers are pure functions of
// their output, tested on transcripts under testdata/.
package suse

import (
	"bytes"
	"encoding/xml"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// Exit statuses of zypper that are answers, not failures.
const (
	exitOK             = 0
	exitUpdateNeeded   = 100 // ZYPPER_EXIT_INF_UPDATE_NEEDED: list-patches found needed patches
	exitSecurityNeeded = 101 // ZYPPER_EXIT_INF_SEC_UPDATE_NEEDED: some of them are security patches
	exitRebootNeeded   = 102 // ZYPPER_EXIT_INF_REBOOT_NEEDED
	exitRestartNeeded  = 103 // ZYPPER_EXIT_INF_RESTART_NEEDED: zypper itself must be updated first
)

// Update is one entry of zypper's XML update list: a package update
// (list-updates) or a patch (list-patches).
type Update struct {
	Kind       string // "package" or "patch"
	Name       string
	Edition    string // the candidate version, "[epoch:]version-release"
	EditionOld string // the installed version; newer zyppers print it
	Arch       string
	Repo       string // the repository alias
	// Patch attributes.
	Status   string // "needed", "applied", "not-needed"
	Category string // "security", "recommended", "optional", ...
	Severity string // "critical", "important", "moderate", "low", "unspecified"
	Summary  string
	CVEs     []string
}

// xmlStream is the document zypper --xmlout prints. Messages and progress
// elements are ignored.
type xmlStream struct {
	XMLName xml.Name     `xml:"stream"`
	Status  *xmlStatus   `xml:"update-status"`
	Errors  []xmlMessage `xml:"message"`
}

type xmlMessage struct {
	Type string `xml:"type,attr"`
	Text string `xml:",chardata"`
}

type xmlStatus struct {
	Updates []xmlUpdate `xml:"update-list>update"`
}

type xmlUpdate struct {
	Kind       string `xml:"kind,attr"`
	Name       string `xml:"name,attr"`
	Edition    string `xml:"edition,attr"`
	EditionOld string `xml:"edition-old,attr"`
	Arch       string `xml:"arch,attr"`
	Status     string `xml:"status,attr"`
	Category   string `xml:"category,attr"`
	Severity   string `xml:"severity,attr"`
	Summary    string `xml:"summary"`
	Source     struct {
		Alias string `xml:"alias,attr"`
	} `xml:"source"`
	Issues []struct {
		Type string `xml:"type,attr"`
		ID   string `xml:"id,attr"`
	} `xml:"issue-list>issue"`
}

// ParseUpdates parses the XML that "zypper --xmlout list-updates" and
// "zypper --xmlout list-patches" print. A document without an
// update-status element is an error carrying zypper's error messages,
// since zypper prints those instead of a list when it fails.
func ParseUpdates(out []byte) ([]Update, error) {
	var doc xmlStream
	dec := xml.NewDecoder(bytes.NewReader(out))
	dec.Strict = true
	if err := dec.Decode(&doc); err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "zypper XML output: %w", err)
	}
	if doc.Status == nil {
		var msgs []string
		for _, m := range doc.Errors {
			if m.Type == "error" {
				msgs = append(msgs, strings.TrimSpace(m.Text))
			}
		}
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "zypper XML output has no update-status element: %s", strings.Join(msgs, "; "))
	}
	var updates []Update
	for i, x := range doc.Status.Updates {
		if x.Name == "" || x.Edition == "" {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "zypper XML update %d: want name and edition attributes", i+1)
		}
		u := Update{
			Kind: x.Kind, Name: x.Name, Edition: x.Edition, EditionOld: x.EditionOld, Arch: x.Arch, Repo: x.Source.Alias,
			Status: x.Status, Category: x.Category, Severity: strings.ToLower(x.Severity), Summary: strings.TrimSpace(x.Summary),
		}
		for _, is := range x.Issues {
			if strings.EqualFold(is.Type, "cve") && is.ID != "" {
				u.CVEs = append(u.CVEs, is.ID)
			}
		}
		updates = append(updates, u)
	}
	return updates, nil
}

// ParseNeedsRebooting reads "zypper needs-rebooting": exit status 102
// means a reboot is needed, 0 that none is; anything else (an old zypper
// without the command, a lock) means the answer is unknown.
func ParseNeedsRebooting(res patchpilot.Result) (required, known bool) {
	switch res.ExitCode {
	case exitOK:
		return false, true
	case exitRebootNeeded:
		return true, true
	}
	return false, false
}

// PatchSources returns the source package names a patch's summary names:
// SUSE titles patches "Security update for openssl-1_1, openssl-3" or
// "Security update for the Linux Kernel". zypper's patch list does not
// name the patch's packages, so this is how patches are matched to
// package updates.
func PatchSources(summary string) []string {
	_, list, ok := strings.Cut(summary, " update for ")
	if !ok {
		return nil
	}
	list = strings.TrimSpace(list)
	if strings.Contains(strings.ToLower(list), "linux kernel") {
		return []string{"kernel"}
	}
	var names []string
	for _, part := range strings.Split(list, ",") {
		for _, name := range strings.Split(part, " and ") {
			if name = strings.TrimSpace(name); name != "" && !strings.ContainsAny(name, " \t") {
				names = append(names, name)
			}
		}
	}
	return names
}
