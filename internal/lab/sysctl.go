package lab

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
)

// inotifyInstancesPerHost is how many inotify instances one booted host
// needs at most (systemd, journald, logind, sshd and udev-less helpers).
// All hosts run as the controller's root user, so they share one per-user
// limit, which Debian sets to 128: about 20 hosts' worth, fewer when other
// labs or programs use some. Up raises it (never lowers it) to fit.
const (
	inotifyInstancesPerHost = 16
	inotifyInstancesSpare   = 256
	inotifyInstancesFile    = "/proc/sys/fs/inotify/max_user_instances"
)

// raiseInotifyLimit makes room for hosts more booted systems.
func raiseInotifyLimit(hosts int, logger *slog.Logger) error {
	want := hosts*inotifyInstancesPerHost + inotifyInstancesSpare
	data, err := os.ReadFile(inotifyInstancesFile)
	if err != nil {
		return fmt.Errorf("read %s: %w", inotifyInstancesFile, err)
	}
	have, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return fmt.Errorf("read %s: %q is not a number", inotifyInstancesFile, data)
	}
	if have >= want {
		return nil
	}
	logger.Info("raising the inotify instance limit for the lab's hosts", "from", have, "to", want)
	if err := os.WriteFile(inotifyInstancesFile, []byte(strconv.Itoa(want)), 0o644); err != nil {
		return fmt.Errorf("raise %s to %d (hosts may fail to boot): %w", inotifyInstancesFile, want, err)
	}
	return nil
}
