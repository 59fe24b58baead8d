package osfamily

import "github.com/patchpilot/patchpilot"

// HeldInTransaction returns the held (or version-locked) packages that a
// transaction would change: those among held that are pinned or appear in
// the transaction's changes, in the order of held.
func HeldInTransaction(pins []patchpilot.PackagePin, changes []patchpilot.PackageChange, held []string) []string {
	touched := map[string]bool{}
	for _, p := range pins {
		touched[p.Name] = true
	}
	for _, c := range changes {
		touched[c.Name] = true
	}
	var out []string
	for _, h := range held {
		if touched[h] {
			out = append(out, h)
		}
	}
	return out
}
