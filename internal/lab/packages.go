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
	// Conffile lists the file in DEBIAN/conffiles: dpkg keeps a local
	// change to it over an update (and dpkg --verify reports the change
	// with "c").
	Conffile bool `json:"conffile,omitempty"`
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
// idle is the idle_timeout default of the version's configuration file (a
// conffile): 1.1.0 changes it, so an update from 1.0.0 touches the file.
var demoWebVersions = []struct{ version, mode, note, idle string }{
	{"1.0.0", "good", "installed at boot", "5m"},
	{"1.1.0", "good", "a good update", "10m"},
	{"1.1.1", "crash", "exits 1 at start", "10m"},
	{"1.1.2", "errors", "errors climb after about 30 seconds", "10m"},
	{"1.1.3", "slow", "latency about three times higher", "10m"},
	{"1.1.4", "good", "postinst fails", "10m"},
}

// Demo worker behaviours by version. pp-demo-worker is in the repository
// but on no host when the lab starts: a test installs 1.0.0 where it needs
// it. It serves HTTP on DemoWorkerPort at the host's address.
var demoWorkerVersions = []struct{ version, mode, note string }{
	{"1.0.0", "good", "the first version"},
	{"1.0.1", "good", "a good update"},
	{"1.0.2", "burn", "spins every CPU core (niced) after the upgrade"},
	{"1.0.3", "loopback", "listens on loopback only: its dependents cannot reach it"},
}

// Ports the demo service and node_exporter listen on, at each host's address.
const (
	// DemoWorkerPort is pp-demo-worker's port.
	DemoWorkerPort   = 8090
	DemoWebPort      = 8080
	NodeExporterPort = 9100
	// hostAddressFile holds PP_LAB_ADDRESS=<the host's address>, for units
	// that must listen on the host's own address.
	hostAddressFile = "/etc/pp-lab/address"
	// DemoWebConfigFile is pp-demo-web's configuration file, a conffile.
	DemoWebConfigFile = "/etc/pp-demo-web/pp-demo-web.conf"
	// DemoClientBackendFile holds PP_DEMO_BACKEND=http://ADDRESS:PORT.
	// pp-demo-client runs only while it exists: the package is on every
	// host, idle until a test names a backend (see StartDemoClient).
	DemoClientBackendFile = "/etc/pp-lab/backend"
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
ExecStart=/usr/bin/pp-demo-web --config=` + DemoWebConfigFile + ` --listen=${PP_LAB_ADDRESS}:%[3]d --mode=%[2]s --version=%[1]s
Restart=on-failure
RestartSec=1

[Install]
WantedBy=multi-user.target
`

// demoWebConfig is the configuration file's text (%s: idle_timeout).
const demoWebConfig = `# pp-demo-web configuration (a dpkg conffile: a local change is kept over
# an update). Flags on the command line win over this file.

# Synthetic requests per second the service serves itself.
load = 20

# How long an idle kept-alive connection stays open (0: for ever).
idle_timeout = %s
`

const demoWorkerUnit = `[Unit]
Description=patchpilot lab demo worker %[1]s
After=network.target

[Service]
Environment=PP_LAB_ADDRESS=127.0.0.1
EnvironmentFile=-` + hostAddressFile + `
ExecStart=/usr/bin/pp-demo-worker %[2]s ${PP_LAB_ADDRESS} %[3]d
Restart=on-failure
RestartSec=1

[Install]
WantedBy=multi-user.target
`

// demoWorkerScript serves /usr/share/pp-demo-worker over HTTP. The burn
// mode also spins one niced shell loop per CPU core: the machine's idle
// time goes, which the lab's hosts (sharing the machine's CPU counters)
// all see, while other work on the machine keeps its share. The loopback
// mode listens on 127.0.0.1 instead of the host's address.
const demoWorkerScript = `#!/bin/sh
# pp-demo-worker MODE ADDRESS PORT
mode=$1 addr=$2 port=$3
case $mode in
burn) for i in $(seq "$(nproc)"); do nice -n 19 sh -c 'while :; do :; done' & done ;;
loopback) addr=127.0.0.1 ;;
esac
exec python3 -m http.server --bind "$addr" --directory /usr/share/pp-demo-worker "$port"
`

// demoClientUnit runs the client only when a backend is named: the unit
// is enabled on every host but its condition keeps it idle otherwise.
const demoClientUnit = `[Unit]
Description=patchpilot lab demo client %[1]s (calls another host's pp-demo-web)
After=network.target
ConditionPathExists=` + DemoClientBackendFile + `

[Service]
Environment=PP_LAB_ADDRESS=127.0.0.1
EnvironmentFile=-` + hostAddressFile + `
EnvironmentFile=` + DemoClientBackendFile + `
ExecStart=/usr/bin/pp-demo-client --client --backend=${PP_DEMO_BACKEND} --local-address=${PP_LAB_ADDRESS} --version=%[1]s
Restart=always
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
	// The client is restarted only when it runs (try-restart): its
	// condition keeps it idle on hosts without a backend.
	demoClientPostinst = `#!/bin/sh
set -e
if [ "$1" = configure ] || [ "$1" = abort-upgrade ]; then
	deb-systemd-helper unmask pp-demo-client.service >/dev/null || true
	deb-systemd-helper enable pp-demo-client.service >/dev/null || true
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		deb-systemd-invoke try-restart pp-demo-client.service >/dev/null || true
	fi
fi
`
	demoClientPrerm = `#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
	deb-systemd-invoke stop pp-demo-client.service >/dev/null || true
fi
`
	demoClientPostrm = `#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = purge ]; then
	deb-systemd-helper purge pp-demo-client.service >/dev/null || true
fi
`
	demoWorkerPostinst = `#!/bin/sh
set -e
if [ "$1" = configure ] || [ "$1" = abort-upgrade ]; then
	deb-systemd-helper unmask pp-demo-worker.service >/dev/null || true
	deb-systemd-helper enable pp-demo-worker.service >/dev/null || true
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		deb-systemd-invoke restart pp-demo-worker.service >/dev/null || true
	fi
fi
`
	demoWorkerPrerm = `#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
	deb-systemd-invoke stop pp-demo-worker.service >/dev/null || true
fi
`
	demoWorkerPostrm = `#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = purge ]; then
	deb-systemd-helper purge pp-demo-worker.service >/dev/null || true
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
				{Path: DemoWebConfigFile[1:], Mode: 0o644, Data: fmt.Sprintf(demoWebConfig, v.idle), Conffile: true},
			},
			Scripts:   map[string]string{"postinst": demoWebPostinst, "prerm": demoWebPrerm, "postrm": demoWebPostrm},
			Installed: v.version == "1.0.0",
		}
		if v.version == "1.1.4" {
			p.Scripts = map[string]string{"postinst": demoWebFailingPostinst, "prerm": demoWebPrerm, "postrm": demoWebPostrm}
		}
		out = append(out, p)
	}
	// The client is the demo binary under its own name, so that the
	// connections it keeps belong to a process of its own package.
	out = append(out, pkgSpec{Name: "pp-demo-client", Version: "1.0.0", Arch: arch, Section: "web",
		Description: "patchpilot lab demo client: keeps a connection to another host's pp-demo-web",
		Files: []pkgFile{
			{Path: "usr/bin/pp-demo-client", Mode: 0o755, Binary: true},
			{Path: "lib/systemd/system/pp-demo-client.service", Mode: 0o644, Data: fmt.Sprintf(demoClientUnit, "1.0.0")},
		},
		Scripts:   map[string]string{"postinst": demoClientPostinst, "prerm": demoClientPrerm, "postrm": demoClientPostrm},
		Installed: true,
	})
	for _, v := range demoWorkerVersions {
		out = append(out, pkgSpec{Name: "pp-demo-worker", Version: v.version, Arch: "all", Section: "web",
			Description: "patchpilot lab demo worker (" + v.note + ")",
			Files: []pkgFile{
				{Path: "usr/bin/pp-demo-worker", Mode: 0o755, Data: demoWorkerScript},
				{Path: "usr/share/pp-demo-worker/VERSION", Mode: 0o644, Data: v.version + "\n"},
				{Path: "lib/systemd/system/pp-demo-worker.service", Mode: 0o644, Data: fmt.Sprintf(demoWorkerUnit, v.version, v.mode, DemoWorkerPort)},
			},
			Scripts: map[string]string{"postinst": demoWorkerPostinst, "prerm": demoWorkerPrerm, "postrm": demoWorkerPostrm},
		})
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
