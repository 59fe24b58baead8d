package debian

import (
	"strings"

	"github.com/patchpilot/patchpilot"
)

// AptPlan is what a simulated apt-get dist-upgrade would do.
type AptPlan struct {
	// Updates are the packages apt would install or upgrade; a package
	// new to the host has no InstalledVersion.
	Updates []patchpilot.Update
	// Removals are the packages apt would remove. The upgrade does not
	// remove them by itself being applied package by package, but a plan
	// that removes packages deserves a closer look.
	Removals []Removal
}

// Removal is a package that a simulated transaction would remove.
type Removal struct {
	Package string
	Arch    string
	Version string
	Purge   bool
}

// ParseAptSimulate parses the output of "apt-get -s dist-upgrade". It reads
// the "Inst", "Remv" and "Purg" lines and ignores everything else
// (the human summary, "Conf" lines):
//
//	Inst name [installed] (candidate Label:Version/Archive[, ...] [arch]) [...]
//	Inst name (candidate Label:Version/Archive [arch])      (a new package)
//	Remv name [installed]
//
// An update is marked Security when one of its origins is a security
// archive ("Debian-Security:12/stable-security",
// "Ubuntu:22.04/jammy-security").
func ParseAptSimulate(out []byte) (AptPlan, error) {
	var plan AptPlan
	for n, line := range strings.Split(string(out), "\n") {
		verb, rest, _ := strings.Cut(strings.TrimRight(line, "\r"), " ")
		switch verb {
		case "Inst":
			u, err := parseInst(rest)
			if err != nil {
				return AptPlan{}, patchpilot.Errorf(patchpilot.EINVALID, "apt-get -s line %d: %s, got %q", n+1, err.Message, truncate(line, 160))
			}
			plan.Updates = append(plan.Updates, u)
		case "Remv", "Purg":
			name, rest, _ := strings.Cut(rest, " ")
			rm := Removal{Purge: verb == "Purg"}
			rm.Package, rm.Arch, _ = strings.Cut(name, ":")
			if rm.Package == "" {
				return AptPlan{}, patchpilot.Errorf(patchpilot.EINVALID, "apt-get -s line %d: want a package name after %s, got %q", n+1, verb, truncate(line, 160))
			}
			if v, ok := bracketed(rest); ok {
				rm.Version = v
			}
			plan.Removals = append(plan.Removals, rm)
		}
	}
	return plan, nil
}

func parseInst(rest string) (patchpilot.Update, *patchpilot.Error) {
	var u patchpilot.Update
	name, rest, _ := strings.Cut(rest, " ")
	u.Package, u.Arch, _ = strings.Cut(name, ":")
	if u.Package == "" {
		return u, patchpilot.Errorf(patchpilot.EINVALID, "want a package name after Inst")
	}
	rest = strings.TrimSpace(rest)
	if v, ok := bracketed(rest); ok {
		u.InstalledVersion = v
		rest = strings.TrimSpace(rest[len(v)+2:])
	}
	if !strings.HasPrefix(rest, "(") {
		return u, patchpilot.Errorf(patchpilot.EINVALID, "want \"(candidate origin [arch])\"")
	}
	// The candidate part ends at "])" when it names an architecture,
	// which apt always does for a real package; labels may contain
	// spaces but not that pair.
	end := strings.Index(rest, "])")
	if end >= 0 {
		end++
	} else if end = strings.IndexByte(rest, ')'); end < 0 {
		return u, patchpilot.Errorf(patchpilot.EINVALID, "want \")\" closing the candidate")
	}
	cand := rest[1:end]
	version, origin, _ := strings.Cut(cand, " ")
	if version == "" {
		return u, patchpilot.Errorf(patchpilot.EINVALID, "want a candidate version")
	}
	u.CandidateVersion = version
	origin = strings.TrimSpace(origin)
	if i := strings.LastIndex(origin, " ["); i >= 0 && strings.HasSuffix(origin, "]") {
		u.Arch = origin[i+2 : len(origin)-1]
		origin = strings.TrimSpace(origin[:i])
	} else if strings.HasPrefix(origin, "[") && strings.HasSuffix(origin, "]") {
		u.Arch, origin = origin[1:len(origin)-1], ""
	}
	u.Origin = origin
	u.Security = securityOrigin(origin)
	return u, nil
}

// bracketed returns the text of a leading "[...]" in s.
func bracketed(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "[") {
		return "", false
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return "", false
	}
	return s[1:end], true
}

// securityOrigin reports whether any of apt's comma-separated origins is
// a security archive: its archive (suite) ends in "-security", or its
// label is a security label such as "Debian-Security".
func securityOrigin(origins string) bool {
	for _, o := range strings.Split(origins, ", ") {
		label, rest, _ := strings.Cut(o, ":")
		archive := rest
		if i := strings.LastIndexByte(rest, '/'); i >= 0 {
			archive = rest[i+1:]
		}
		if strings.HasSuffix(archive, "-security") || strings.HasSuffix(strings.ToLower(label), "-security") {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
