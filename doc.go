// Package patchpilot is the domain glossary of patchpilot: the types that
// describe a fleet (hosts, facts, packages, pending updates, advisories,
// events) and the small interfaces that the rest of the program implements
// (Store, Runner, Dialer).
//
// It imports the standard library only, so that every other package can
// depend on it without dragging in a database driver or an SSH library. A
// test in this package enforces that rule.
package patchpilot
