package risk

import (
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
)

// VersionParts is a package version split the way Debian and rpm split
// it: epoch, upstream version, and the distribution's revision (Debian
// revision or rpm release).
type VersionParts struct {
	Epoch    string
	Upstream string
	Revision string
}

// SplitVersion splits "epoch:upstream-revision". The revision is what
// follows the last hyphen; a version without one is all upstream.
func SplitVersion(v string) VersionParts {
	var p VersionParts
	if e, rest, ok := strings.Cut(v, ":"); ok && e != "" && isDigits(e) {
		p.Epoch, v = e, rest
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		p.Upstream, p.Revision = v[:i], v[i+1:]
	} else {
		p.Upstream = v
	}
	return p
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Jump sizes of a version change, from smallest to largest.
const (
	JumpUnknown  = -1 // a version is missing or cannot be compared
	JumpRevision = 0  // same upstream version: a backported fix
	JumpPatch    = 1  // upstream changed beyond its first two numbers (1.2.3 → 1.2.4)
	JumpMinor    = 2  // upstream's second number changed (1.2 → 1.3)
	JumpMajor    = 3  // upstream's first number or the epoch changed
)

// VersionChange describes how far an update moves a package.
type VersionChange struct {
	// NewUpstream is true when the upstream parts differ: a new upstream
	// release rather than a fix backported by the distribution.
	NewUpstream bool
	// Jump is one of the Jump constants.
	Jump int
	// FromUpstream and ToUpstream are the compared upstream parts.
	FromUpstream, ToUpstream string
}

// familyFor returns the version rules of an "os" field such as "debian:12"
// or "rocky:9"; Debian's when the OS is unknown, since dpkg's ordering also
// reads rpm-style upstream versions sensibly.
func familyFor(os string) patchpilot.OSFamily {
	name, _, _ := strings.Cut(os, ":")
	if f := osfamily.FromOSRelease(name, nil); f != patchpilot.FamilyUnknown {
		return f
	}
	return patchpilot.FamilyDebian
}

// CompareChange compares the upstream parts of two versions with the
// distribution's rules and sizes the jump.
func CompareChange(os, from, to string) VersionChange {
	if from == "" || to == "" {
		return VersionChange{Jump: JumpUnknown}
	}
	a, b := SplitVersion(from), SplitVersion(to)
	vc := VersionChange{FromUpstream: a.Upstream, ToUpstream: b.Upstream}
	if a.Epoch != b.Epoch && !(a.Epoch == "" && b.Epoch == "0" || a.Epoch == "0" && b.Epoch == "") {
		vc.NewUpstream, vc.Jump = true, JumpMajor
		return vc
	}
	cmp, err := osfamily.CompareVersions(familyFor(os), a.Upstream, b.Upstream)
	if err != nil {
		vc.Jump = JumpUnknown
		return vc
	}
	if cmp == 0 {
		vc.Jump = JumpRevision
		return vc
	}
	vc.NewUpstream = true
	vc.Jump = upstreamJump(a.Upstream, b.Upstream)
	return vc
}

// upstreamJump finds the first numeric component that differs.
func upstreamJump(a, b string) int {
	na, nb := numericParts(a), numericParts(b)
	for i := 0; i < len(na) && i < len(nb); i++ {
		if na[i] != nb[i] {
			switch i {
			case 0:
				return JumpMajor
			case 1:
				return JumpMinor
			}
			return JumpPatch
		}
	}
	return JumpPatch
}

func numericParts(s string) []string {
	return strings.FieldsFunc(s, func(c rune) bool { return c < '0' || c > '9' })
}
