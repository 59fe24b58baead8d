package redhat

import (
	"strings"

	"github.com/patchpilot/patchpilot"
)

// Exit statuses of dnf check-update.
const (
	checkUpdateNone      = 0   // no updates
	checkUpdateAvailable = 100 // updates are available
)

// Available is a package version that dnf offers.
type Available struct {
	Name    string
	Arch    string
	Version string // "[epoch:]version-release"
	Repo    string
}

// Obsoleting is a package that replaces installed packages of another
// name.
type Obsoleting struct {
	Available
	// Replaces are the installed packages it obsoletes; their Repo
	// starts with "@" (the repository they were installed from).
	Replaces []Available
}

// CheckUpdate is what dnf check-update reported.
type CheckUpdate struct {
	Updates    []Available
	Obsoleting []Obsoleting
}

// obsoletingHeader starts the section of obsoleting packages.
const obsoletingHeader = "Obsoleting Packages"

// ParseCheckUpdate parses the standard output of "dnf -q check-update":
// "name.arch version repo" columns, where dnf wraps a value that is wider
// than its column onto the next line, followed by an optional
// "Obsoleting Packages" section in which each obsoleting package is
// followed by the installed packages it replaces, indented. Because no
// column contains spaces, the parser reads the output as a stream of
// words in threes, which undoes any wrapping.
func ParseCheckUpdate(out []byte) (CheckUpdate, error) {
	var cu CheckUpdate
	main, obsoleting, _ := strings.Cut(string(out), "\n"+obsoletingHeader+"\n")
	if strings.HasPrefix(main, obsoletingHeader+"\n") {
		main, obsoleting = "", strings.TrimPrefix(main, obsoletingHeader+"\n")
	}
	var err error
	if cu.Updates, err = parseColumns(main, "update"); err != nil {
		return CheckUpdate{}, err
	}
	obs, err := parseColumns(obsoleting, "obsoleting")
	if err != nil {
		return CheckUpdate{}, err
	}
	for _, a := range obs {
		if strings.HasPrefix(a.Repo, "@") {
			if len(cu.Obsoleting) == 0 {
				return CheckUpdate{}, patchpilot.Errorf(patchpilot.EINVALID, "dnf check-update: installed package %s.%s listed before the package obsoleting it", a.Name, a.Arch)
			}
			last := &cu.Obsoleting[len(cu.Obsoleting)-1]
			last.Replaces = append(last.Replaces, a)
			continue
		}
		cu.Obsoleting = append(cu.Obsoleting, Obsoleting{Available: a})
	}
	return cu, nil
}

func parseColumns(text, what string) ([]Available, error) {
	words := strings.Fields(text)
	if len(words)%3 != 0 {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "dnf check-update: want %s entries of three columns (name.arch, version, repository), got %d words", what, len(words))
	}
	var out []Available
	for i := 0; i < len(words); i += 3 {
		name, arch, ok := splitNameArch(words[i])
		if !ok {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "dnf check-update: want name.arch, got %q", truncate(words[i], 80))
		}
		out = append(out, Available{Name: name, Arch: arch, Version: words[i+1], Repo: words[i+2]})
	}
	return out, nil
}

// Advisory is one line of "dnf updateinfo list --security": an advisory
// and one package version that fixes it.
type Advisory struct {
	ID       string
	Severity string // lower case: "critical", "important", "moderate", "low"; "" when dnf names none
	Name     string
	Arch     string
	Version  string // "[epoch:]version-release"
}

// ParseUpdateInfo parses "dnf -q updateinfo list --security", whose lines
// read "RLSA-2024:3339 Important/Sec. glibc-2.34-100.el9_4.2.x86_64".
func ParseUpdateInfo(out []byte) ([]Advisory, error) {
	var advs []Advisory
	for n, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "dnf updateinfo line %d: want advisory, type and package, got %q", n+1, truncate(line, 120))
		}
		name, arch, evr, ok := SplitNEVRA(f[2])
		if !ok {
			return nil, patchpilot.Errorf(patchpilot.EINVALID, "dnf updateinfo line %d: want name-version-release.arch, got %q", n+1, truncate(f[2], 80))
		}
		sev := ""
		if s, kind, ok := strings.Cut(f[1], "/"); ok && strings.HasPrefix(kind, "Sec") {
			sev = strings.ToLower(s)
		}
		advs = append(advs, Advisory{ID: f[0], Severity: sev, Name: name, Arch: arch, Version: evr})
	}
	return advs, nil
}

// ParseNeedsRestarting reads "needs-restarting -r": exit status 1 with
// "Reboot is required" means a reboot is needed, and the output lists the updated core packages as
// "  * name" lines; 0 means none is needed. Any other status (the tool is
// missing, or failed) means the answer is unknown.
func ParseNeedsRestarting(res patchpilot.Result) (required bool, packages []string, known bool) {
	switch res.ExitCode {
	case 0:
		return false, nil, true
	case 1:
		if !strings.Contains(string(res.Stdout), "Reboot is required") {
			return false, nil, false // exit status 1 from an error, not an answer
		}
		for _, line := range strings.Split(string(res.Stdout), "\n") {
			if name, ok := strings.CutPrefix(strings.TrimSpace(line), "* "); ok && strings.TrimSpace(name) != "" {
				packages = append(packages, strings.TrimSpace(name))
			}
		}
		return true, packages, true
	}
	return false, nil, false
}
