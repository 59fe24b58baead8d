package lab

import (
	"fmt"
	"runtime"
)

// pkgSpec is one test package of the lab's repository.
type pkgSpec struct {
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	Arch        string            `json:"arch"` // "all" or the controller's architecture
	Depends     string            `json:"depends,omitempty"`
	Conflicts   string            `json:"conflicts,omitempty"`
	Replaces    string            `json:"replaces,omitempty"`
	Provides    string            `json:"provides,omitempty"`
	Section     string            `json:"section"`
	Description string            `json:"description"`
	Files       []pkgFile         `json:"files"`
	Scripts     map[string]string `json:"scripts,omitempty"` // postinst, prerm, postrm
	// Installed marks the version every host has when the lab starts.
	Installed bool `json:"installed,omitempty"`
}

// pkgFile is a file in a package. The demo binary is named by Binary instead
// of carried in Data, so the specs stay small and hashable.
type pkgFile struct {
	Path   string `json:"path"`
	Mode   uint32 `json:"mode"`
	Data   string `json:"data,omitempty"`
	Binary bool   `json:"binary,omitempty"`
}

func (p pkgSpec) debName() string { return fmt.Sprintf("%s_%s_%s.deb", p.Name, p.Version, p.Arch) }

// debArch is the Debian name of the controller's architecture, which is also
// the hosts' (they share its kernel).
func debArch() string {
	switch runtime.GOARCH {
	case "386":
		return "i386"
	case "arm":
		return "armhf"
	}
	return runtime.GOARCH // amd64, arm64, ppc64le, s390x, riscv64
}

// Demo web behaviours by version. 1.1.4 runs fine but its postinst fails.
var demoWebVersions = []struct{ version, mode, note string }{
	{"1.0.0", "good", "installed at boot"},
	{"1.1.0", "good", "a good update"},
	{"1.1.1", "crash", "exits 1 at start"},
	{"1.1.2", "errors", "errors climb after about 30 seconds"},
	{"1.1.3", "slow", "latency about three times higher"},
	{"1.1.4", "good", "postinst fails"},
}

// Ports the demo service and node_exporter listen on, at each host's address.
const (
	DemoWebPort      = 8080
	NodeExporterPort = 9100
	// hostAddressFile holds PP_LAB_ADDRESS=<the host's address>, for units
	// that must listen on the host's own address.
	hostAddressFile = "/etc/pp-lab/address"
	// repoMount is where the repository appears inside every host.
	repoMount = "/srv/pp-repo"
)

const demoWebUnit = `[Unit]
Description=patchpilot lab demo web service %[1]s
After=network.target
StartLimitIntervalSec=30
StartLimitBurst=3

[Service]
Environment=PP_LAB_ADDRESS=127.0.0.1
EnvironmentFile=-` + hostAddressFile + `
ExecStart=/usr/bin/pp-demo-web --listen=${PP_LAB_ADDRESS}:%[3]d --mode=%[2]s --version=%[1]s
Restart=on-failure
RestartSec=1

[Install]
WantedBy=multi-user.target
`

// The maintainer scripts follow what debhelper generates for a service.
const (
	demoWebPostinst = `#!/bin/sh
set -e
if [ "$1" = configure ] || [ "$1" = abort-upgrade ]; then
	deb-systemd-helper unmask pp-demo-web.service >/dev/null || true
	deb-systemd-helper enable pp-demo-web.service >/dev/null || true
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		deb-systemd-invoke restart pp-demo-web.service >/dev/null || true
	fi
fi
`
	demoWebFailingPostinst = `#!/bin/sh
set -e
if [ "$1" = configure ]; then
	echo "pp-demo-web: cannot migrate the configuration (this version fails on purpose)" >&2
	exit 1
fi
`
	demoWebPrerm = `#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
	deb-systemd-invoke stop pp-demo-web.service >/dev/null || true
fi
`
	demoWebPostrm = `#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = purge ]; then
	deb-systemd-helper purge pp-demo-web.service >/dev/null || true
fi
`
	kernelPostinst = `#!/bin/sh
set -e
if [ "$1" = configure ]; then
	touch /var/run/reboot-required
	if ! grep -qx pp-kernel-demo /var/run/reboot-required.pkgs 2>/dev/null; then
		echo pp-kernel-demo >> /var/run/reboot-required.pkgs
	fi
fi
`
)

// repoPackages is the content of the lab's repository.
func repoPackages() []pkgSpec {
	arch := debArch()
	var out []pkgSpec
	for _, v := range demoWebVersions {
		p := pkgSpec{
			Name: "pp-demo-web", Version: v.version, Arch: arch, Section: "web",
			Description: "patchpilot lab demo web service (" + v.note + ")",
			Files: []pkgFile{
				{Path: "usr/bin/pp-demo-web", Mode: 0o755, Binary: true},
				{Path: "lib/systemd/system/pp-demo-web.service", Mode: 0o644, Data: fmt.Sprintf(demoWebUnit, v.version, v.mode, DemoWebPort)},
			},
			Scripts:   map[string]string{"postinst": demoWebPostinst, "prerm": demoWebPrerm, "postrm": demoWebPostrm},
			Installed: v.version == "1.0.0",
		}
		if v.version == "1.1.4" {
			p.Scripts = map[string]string{"postinst": demoWebFailingPostinst, "prerm": demoWebPrerm, "postrm": demoWebPostrm}
		}
		out = append(out, p)
	}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		out = append(out,
			pkgSpec{Name: "pp-libdemo", Version: v, Arch: "all", Section: "libs", Description: "patchpilot lab demo library",
				Files: []pkgFile{{Path: "usr/share/pp-libdemo/VERSION", Mode: 0o644, Data: v + "\n"}}, Installed: v == "1.0.0"},
			pkgSpec{Name: "pp-libdemo-tools", Version: v, Arch: "all", Section: "utils", Description: "patchpilot lab tools that use pp-libdemo",
				Depends:   "pp-libdemo (>= " + v + ")",
				Files:     []pkgFile{{Path: "usr/bin/pp-libdemo-tool", Mode: 0o755, Data: "#!/bin/sh\necho pp-libdemo-tool " + v + " with pp-libdemo $(cat /usr/share/pp-libdemo/VERSION)\n"}},
				Installed: v == "1.0.0"},
			pkgSpec{Name: "pp-kernel-demo", Version: v, Arch: "all", Section: "kernel", Description: "patchpilot lab kernel-like package that requires a reboot",
				Files:   []pkgFile{{Path: "usr/share/pp-kernel-demo/VERSION", Mode: 0o644, Data: v + "\n"}},
				Scripts: map[string]string{"postinst": kernelPostinst}, Installed: v == "1.0.0"},
		)
	}
	out = append(out,
		pkgSpec{Name: "pp-agent-legacy", Version: "1.0.0", Arch: "all", Section: "admin", Description: "patchpilot lab legacy agent, replaced by pp-agent 2",
			Files: []pkgFile{{Path: "usr/share/pp-agent-legacy/VERSION", Mode: 0o644, Data: "1.0.0\n"}}, Installed: true},
		pkgSpec{Name: "pp-agent", Version: "1.0.0", Arch: "all", Section: "admin", Description: "patchpilot lab agent",
			Files: []pkgFile{{Path: "usr/share/pp-agent/VERSION", Mode: 0o644, Data: "1.0.0\n"}}, Installed: true},
		// 2.0.0 absorbs the legacy agent: upgrading it removes pp-agent-legacy.
		pkgSpec{Name: "pp-agent", Version: "2.0.0", Arch: "all", Section: "admin", Description: "patchpilot lab agent (absorbs pp-agent-legacy)",
			Conflicts: "pp-agent-legacy", Replaces: "pp-agent-legacy", Provides: "pp-agent-legacy",
			Files: []pkgFile{{Path: "usr/share/pp-agent/VERSION", Mode: 0o644, Data: "2.0.0\n"}}},
	)
	return out
}
