package lab

import (
	"os"
	"runtime"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// tool is a program the lab runs and the Debian package that ships it.
type tool struct{ bin, pkg string }

// requiredTools are needed by every lab; prometheusTools only with
// --prometheus.
var (
	requiredTools = []tool{
		{"debootstrap", "debootstrap"},
		{"systemd-nspawn", "systemd-container"},
		{"nsenter", "util-linux"},
		{"apt-ftparchive", "apt-utils"},
		{"dpkg-deb", "dpkg"},
		{"dpkg-scanpackages", "dpkg-dev"},
		{"nft", "nftables"},
		{"chroot", "coreutils"},
	}
	prometheusTools = []tool{
		{"prometheus", "prometheus"},
		{"prometheus-node-exporter", "prometheus-node-exporter"},
	}
)

// CheckHost verifies that the lab can run here: Linux, root, and every tool
// present. A missing tool is named with the apt-get line that installs it.
func CheckHost(prometheus bool) error {
	if runtime.GOOS != "linux" {
		return patchpilot.Errorf(patchpilot.EUNSUPPORTED, "the lab needs Linux, not %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		return patchpilot.Errorf(patchpilot.EUNSUPPORTED, "the lab needs root (it mounts file systems and boots containers)").
			WithHint("run it with sudo")
	}
	missing, pkgs := missingTools(prometheus)
	if len(missing) > 0 {
		line := "apt-get install -y " + strings.Join(pkgs, " ")
		return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "missing tools: %s (install with: %s)", strings.Join(missing, ", "), line).
			WithHint(line)
	}
	return nil
}

// MissingPackages returns the Debian packages that ship the tools the lab
// needs (with prometheus, those of Options.Prometheus too) and that are
// not installed here, in the order CheckHost names them; none when the
// lab can run.
func MissingPackages(prometheus bool) []string {
	_, pkgs := missingTools(prometheus)
	return pkgs
}

// missingTools returns the tools not found in PATH and the packages that
// ship them.
func missingTools(prometheus bool) (missing, pkgs []string) {
	tools := requiredTools
	if prometheus {
		tools = append(append([]tool(nil), tools...), prometheusTools...)
	}
	for _, t := range tools {
		// Found as the lab runs them: root's tools may be outside a
		// user's PATH (sudo env PATH=$PATH).
		if _, err := lookPath(t.bin); err != nil {
			missing = append(missing, t.bin)
			if !contains(pkgs, t.pkg) {
				pkgs = append(pkgs, t.pkg)
			}
		}
	}
	return missing, pkgs
}
