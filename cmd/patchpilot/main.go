// Command patchpilot patches Linux fleets safely: it inventories servers,
// finds pending updates and their advisories, and (in later commands) plans,
// runs and rolls back staged rollouts.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	// Maintenance windows name time zones; embed the zone database so
	// they work on hosts without tzdata.
	_ "time/tzdata"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
