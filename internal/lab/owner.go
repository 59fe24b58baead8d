package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/lab/labowner"
)

// registryDir holds one file per subnet in use, named after the subnet
// and holding the directory of the lab that uses it. It is on /run, so a
// reboot (which ends every lab) empties it.
var registryDir = "/run/patchpilot-lab"

// ownerOf is the owner a new lab records: Options.Owner, else
// labowner.EnvOwner.
func ownerOf(o Options) (string, error) {
	if o.Owner != "" {
		return o.Owner, nil
	}
	owner, err := labowner.FromEnv()
	if err != nil {
		return "", patchpilot.Errorf(patchpilot.EINVALID, "%w", err)
	}
	return owner, nil
}

// registryFile is the registry entry of a subnet.
func registryFile(subnet string) string { return filepath.Join(registryDir, subnet) }

// register records that the lab in s.Dir uses its subnet.
func register(s *State) error {
	if err := os.MkdirAll(registryDir, 0o755); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "lab registry: %w", err)
	}
	if err := writeFileAtomic(registryFile(s.Subnet), []byte(s.Dir+"\n"), 0o644); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "lab registry: %w", err)
	}
	return nil
}

// unregister removes the subnet's entry if it still names the lab in dir.
func unregister(s *State) {
	if d, ok := registered(s.Subnet); ok && d == s.Dir {
		_ = os.Remove(registryFile(s.Subnet))
	}
}

// registered returns the directory of the lab registered on subnet.
func registered(subnet string) (string, bool) {
	b, err := os.ReadFile(registryFile(subnet))
	if err != nil {
		return "", false
	}
	d := strings.TrimSpace(string(b))
	return d, d != ""
}

// reclaimAbandoned takes down every registered lab whose owner has exited,
// but the one in except (which its caller is starting over), and forgets
// entries whose lab is gone. Labs of live owners and labs without one are
// left alone. It reports what it did to logger and returns the errors of
// labs it could not take down.
func reclaimAbandoned(ctx context.Context, except string, logger *slog.Logger) error {
	ents, err := os.ReadDir(registryDir)
	if err != nil {
		return nil // no registry: no lab was ever registered
	}
	var errs []error
	for _, e := range ents {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		subnet := e.Name()
		dir, ok := registered(subnet)
		if !ok || dir == except {
			continue
		}
		s, err := loadState(dir)
		if patchpilot.ErrorCode(err) == patchpilot.ENOTFOUND || (err == nil && s.Subnet != subnet) {
			_ = os.Remove(registryFile(subnet)) // the lab is gone or moved
			continue
		}
		if err != nil || !labowner.Gone(s.Owner) {
			continue
		}
		logger.Warn("taking down an abandoned lab: the process that started it has exited",
			"dir", dir, "subnet", subnet, "owner", s.Owner)
		if err := Down(ctx, dir, logger); err != nil {
			if patchpilot.ErrorCode(err) == patchpilot.ECONFLICT {
				continue // its directory is busy: another command is on it
			}
			errs = append(errs, fmt.Errorf("take down the abandoned lab in %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}

// ThisProcess is the Options.Owner value that makes this process the
// owner of a lab: the lab is taken down by the next lab started once this
// process has exited. "" when /proc cannot say (the lab then has no owner).
func ThisProcess() string {
	o, err := labowner.Of(os.Getpid())
	if err != nil {
		return ""
	}
	return o
}
