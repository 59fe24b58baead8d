package inventory

import "github.com/patchpilot/patchpilot"

// CheckHostText refuses a host read from an inventory service (a CMDB, an
// HTTP endpoint) with a control character in any of its strings, as the
// file parsers refuse them; the error names the host, the field and the
// character.
func CheckHostText(h patchpilot.Host) error { return checkHostText(h) }
