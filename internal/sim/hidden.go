package sim

import (
	"math"

	"github.com/patchpilot/patchpilot/internal/risk"
)

// Hidden risk function parameters (log-odds).
const (
	hiddenBase        = -5.0
	hiddenNewUpstream = 2.0 // a new upstream release rather than a backported fix
	hiddenPerJump     = 0.6 // per step of the version jump (patch, minor, major)
	hiddenRemovals    = 1.5 // the transaction removes packages
	hiddenReboot      = 0.3 // the update needs a reboot
	hiddenBadCombo    = 3.5 // BadComboPackage on BadComboRole hosts
	hiddenPatchSD     = 0.4 // spread of per-patch effects
	hiddenHostSD      = 0.3 // spread of per-host effects
	hiddenPackageSD   = 0.8 // spread of per-package effects around the catalogue's
)

// The bad package-role combination: openssl updates on load balancers
// (TLS termination exercises the library in ways other roles do not).
const (
	BadComboPackage = "openssl"
	BadComboRole    = "lb"
)

// categoryEffect is the hidden log-odds shift of each category.
func categoryEffect(category string) float64 {
	switch category {
	case risk.CategoryKernel:
		return 0.9
	case risk.CategoryLibc:
		return 0.4
	case risk.CategoryCrypto:
		return 0.3
	case risk.CategoryDatabase:
		return 0.8
	case risk.CategoryWebServer:
		return 0.5
	case risk.CategorySystemd:
		return 0.6
	case risk.CategoryRuntime:
		return 0.1
	case risk.CategoryOther:
		return -0.8
	}
	return 0
}

// hiddenLogOdds is the true log-odds of a failure.
func hiddenLogOdds(pkg catalogPackage, role string, jump int, newUpstream, removals, reboot bool, patchEffect, hostEffect float64) float64 {
	z := hiddenBase + categoryEffect(risk.Categorize(pkg.source, pkg.name)) + pkg.effect + patchEffect + hostEffect
	if newUpstream {
		z += hiddenNewUpstream + hiddenPerJump*float64(max(jump, 0))
	}
	if removals {
		z += hiddenRemovals
	}
	if reboot {
		z += hiddenReboot
	}
	if pkg.source == BadComboPackage && role == BadComboRole {
		z += hiddenBadCombo
	}
	return z
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }
