// Command pp-demo-web is the lab's demo HTTP service (see internal/lab/demoweb).
// The lab builds it from the embedded source of that package; this command
// exists so the service can also be built and run by hand.
package main

import (
	"os"

	"github.com/patchpilot/patchpilot/internal/lab/demoweb"
)

func main() { os.Exit(demoweb.Main(os.Args[1:], os.Stderr)) }
