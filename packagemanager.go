package patchpilot

import (
	"context"
	"time"
)

// PackageManager changes packages on one host, through its Runner, with the
// host's own package manager (apt/dpkg, dnf/rpm). Every method is safe to
// call again after a crash: it acts on the host's real state.
type PackageManager interface {
	// Installed returns the installed version of each named package (""
	// when it is not installed).
	Installed(ctx context.Context, r Runner, names []string) (map[string]string, error)
	// Preflight checks that the pins can be installed: the package
	// manager's lock is free (waiting up to LockWait), the versions are
	// available, and a dry run of the transaction removes nothing,
	// touches no held package and downgrades nothing unless
	// AllowDowngrade. The dry run is the transaction Apply runs with the
	// same options, so that what passes it is what Apply does. Problems
	// are reported, not returned as an error; an error means the check
	// itself could not run.
	Preflight(ctx context.Context, r Runner, pins []PackagePin, opts PreflightOptions) (PreflightReport, error)
	// Snapshot records the installed versions of every package the
	// transaction changes and secures rollback artifacts on the host.
	Snapshot(ctx context.Context, r Runner, plan PreflightReport) (PackageSnapshot, error)
	// Apply installs the exact versions, non-interactively, keeping
	// existing configuration files.
	Apply(ctx context.Context, r Runner, pins []PackagePin, opts ApplyOptions) (ApplyReport, error)
	// Rollback restores the snapshot's versions from its artifacts
	// (allowing downgrades) and removes packages the change added.
	Rollback(ctx context.Context, r Runner, snap PackageSnapshot, opts ApplyOptions) (ApplyReport, error)
}

// PreflightOptions tune a preflight.
type PreflightOptions struct {
	// LockWait bounds the wait for the package manager's lock.
	LockWait time.Duration
	// MinFreeBytes is the free space the package cache's filesystem
	// must have.
	MinFreeBytes int64
	// AllowDowngrade is the apply's AllowDowngrade: the dry run runs the
	// transaction apply will run, so it must be given the same.
	AllowDowngrade bool
}

// PreflightReport is what the dry run showed.
type PreflightReport struct {
	Pins        []PackagePin    `json:"pins"`
	Changes     []PackageChange `json:"changes"`  // every package the transaction changes
	Removals    []string        `json:"removals"` // packages it would remove
	Held        []string        `json:"held"`
	Unavailable []string        `json:"unavailable"` // pins whose version the repositories lack
	// Downgrades are the packages the transaction replaces with an older
	// version. Unless the options allow downgrades, each is a problem.
	Downgrades []string `json:"downgrades,omitempty"`
	// RebootRequired is true when the transaction touches packages that
	// need a reboot (kernels and the like), as far as can be told before.
	RebootRequired bool     `json:"reboot_required"`
	FreeBytes      int64    `json:"free_bytes"`
	Problems       []string `json:"problems"` // why the host must not be patched; empty means go
}

// PackageSnapshot is the state to roll back to.
type PackageSnapshot struct {
	Versions    map[string]string `json:"versions"`  // package → installed version ("" = not installed)
	Artifacts   map[string]string `json:"artifacts"` // package → path of the kept package file on the host
	Transaction string            `json:"transaction,omitempty"`
	// Missing lists packages with no artifact: a rollback cannot restore
	// them.
	Missing []string `json:"missing,omitempty"`
}

// ApplyOptions tune apply and rollback.
type ApplyOptions struct {
	Timeout  time.Duration
	LockWait time.Duration
	// Unit names the detached job on the host, so that a restarted
	// controller can find a transaction still running after it died.
	Unit string
	// AllowDowngrade lets Apply install a pin older than the installed
	// version (a plan rolling back to a known-good version on purpose);
	// without it the package manager refuses the downgrade. Rollback
	// always downgrades.
	AllowDowngrade bool
}

// ApplyReport is what a transaction did.
type ApplyReport struct {
	Changes        []PackageChange `json:"changes"`
	RebootRequired bool            `json:"reboot_required"`
	Transaction    string          `json:"transaction,omitempty"`
	Output         string          `json:"output"` // the tail of the package manager's output
	ExitCode       int             `json:"exit_code"`
}
