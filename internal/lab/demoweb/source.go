package demoweb

import "embed"

// Source is this package's own Go source. The lab builds the pp-demo-web
// binary from it with the Go toolchain, so a lab started from an installed
// patchpilot binary needs no checkout of the project.
//
//go:embed demoweb.go metrics.go client.go config.go
var Source embed.FS
