package fleet

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/osfamily"
	"github.com/patchpilot/patchpilot/internal/osfamily/debian"
	"github.com/patchpilot/patchpilot/internal/pkgmgr/systemdrun"
)

// The commands a simulated host knows, built with the product's own
// builders: when the product changes a command, the simulated host stops
// recognising it and says so, rather than answering the old one.
var (
	cmdProbeFiles   = osfamily.ProbeSteps()[0].Cmd.Args
	cmdUname        = osfamily.ProbeSteps()[1].Cmd.Args
	cmdServices     = osfamily.ServicesStep().Cmd.Args
	cmdNeedsRestart = osfamily.NeedsRestartStep().Cmd.Args
	cmdPackages     []string
	cmdDistUpgrade  []string
	cmdHeld         = debian.HeldCommand().Args
	cmdFreeSpace    = debian.FreeSpaceCommand().Args
	cmdStatus       = systemdrun.StatusCommand("x").Args[:4] // sh -c script patchpilot-status
	cmdWait         = systemdrun.WaitCommand("x", 0).Args[:4]
	cmdInDir        = debian.DownloadCommand("/d", "x", "1").Args[:4]
	cmdJobPrefix    []string // systemd-run's tail after "--": /bin/sh -c wrapper patchpilot-job
	cmdAptInstall   []string // apt-get install's fixed options, before the lock timeout
)

func init() {
	for _, s := range debian.Steps(osfamily.Options{}) {
		switch s.Name {
		case debian.StepPackages:
			cmdPackages = s.Cmd.Args
		case debian.StepUpdates:
			cmdDistUpgrade = s.Cmd.Args
		}
	}
	start := systemdrun.StartCommand(systemdrun.Job{Unit: "x", Args: []string{"true"}}).Args
	i := slices.Index(start, "--")
	cmdJobPrefix = start[i+1 : i+5]
	ref := debian.ApplyArgs([]patchpilot.PackagePin{{Name: "x", Version: "1"}}, debian.InstallOptions{})
	cmdAptInstall = ref[:len(ref)-4] // less "-o" "DPkg::Lock::Timeout=N" "--" "x=1"
}

// Run answers one command as the host would. A command the simulation
// does not know is an EUNSUPPORTED error.
func (h *Host) Run(ctx context.Context, cmd patchpilot.Command) (patchpilot.Result, error) {
	if err := ctx.Err(); err != nil {
		return patchpilot.Result{}, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	start := time.Now()
	res, ok := h.answer(cmd.Args)
	if !ok {
		return patchpilot.Result{}, errUnknown(h.name, cmd)
	}
	res.Duration = time.Since(start)
	return res, nil
}

func out(s string) patchpilot.Result { return patchpilot.Result{Stdout: []byte(s)} }

func fail(code int, stdout, stderr string) patchpilot.Result {
	return patchpilot.Result{ExitCode: code, Stdout: []byte(stdout), Stderr: []byte(stderr)}
}

func (h *Host) answer(args []string) (patchpilot.Result, bool) {
	rec := h.fleet.rec
	switch {
	case len(args) == 0:
		return patchpilot.Result{}, false
	case slices.Equal(args, cmdProbeFiles):
		s := strings.Replace(string(rec.filesOut), rec.bootID, h.BootID(), 1)
		return fail(1, s, string(rec.filesErr)), true
	case slices.Equal(args, cmdUname):
		return out(h.name + " " + h.Kernel() + " " + rec.arch + "\n"), true
	case slices.Equal(args, cmdPackages):
		return out(h.dpkgList()), true
	case slices.Equal(args, cmdDistUpgrade):
		return out(h.distUpgrade()), true
	case slices.Equal(args, cmdServices):
		return out(string(rec.services)), true
	case slices.Equal(args, cmdNeedsRestart):
		return out(""), true // nothing maps a replaced library
	case slices.Equal(args, []string{"true"}):
		return out(""), true
	case slices.Equal(args, []string{"cat", "/proc/sys/kernel/random/boot_id"}):
		return out(h.BootID() + "\n"), true
	case len(args) == 3 && args[0] == "test" && args[1] == "-e" &&
		(args[2] == debian.RebootRequiredFile || args[2] == "/run/reboot-required"):
		return fail(1, "", ""), true // no reboot pending
	case slices.Equal(args, cmdHeld):
		return out(""), true
	case slices.Equal(args, cmdFreeSpace):
		return out("      Avail\n21474836480\n"), true
	case len(args) == 4 && args[0] == "apt-get" && args[1] == "-o" && strings.HasPrefix(args[2], "DPkg::Lock::Timeout=") && args[3] == "check":
		return out("Reading package lists...\nBuilding dependency tree...\nReading state information...\n"), true
	case len(args) > 3 && args[0] == "apt-cache" && args[1] == "madison" && args[2] == "--":
		return h.madison(args[3:]), true
	case len(args) > 4 && args[0] == "dpkg-query" && args[1] == "-W" && args[2] == "-f" && args[4] == "--":
		return h.query(args[3], args[5:])
	case len(args) == 6 && args[0] == "mkdir" && args[1] == "-p" && args[2] == "-m" && args[3] == "0700" && args[4] == "--":
		return out(""), true
	case len(args) == 5 && args[0] == "dpkg-deb" && args[1] == "-f" && args[3] == "Package" && args[4] == "Version":
		kept, ok := h.files[args[2]]
		if !ok {
			return fail(2, "", fmt.Sprintf("dpkg-deb: error: failed to read archive '%s': No such file or directory\n", args[2])), true
		}
		name, version, _ := strings.Cut(kept, "\x00")
		return out("Package: " + name + "\nVersion: " + version + "\n"), true
	case len(args) > 5 && slices.Equal(args[:4], cmdInDir):
		return h.inDir(args[4], args[5:])
	case len(args) == 5 && args[0] == "cp" && args[1] == "-p" && args[2] == "--":
		return fail(1, "", fmt.Sprintf("cp: cannot stat '%s': No such file or directory\n", args[3])), true
	case args[0] == "env":
		return h.aptInstall(args)
	case args[0] == "systemd-run":
		return h.startJob(args)
	case len(args) == 6 && slices.Equal(args[:4], cmdStatus) && args[4] == systemdrun.LogDir:
		return out(h.jobStatus(args[5])), true
	case len(args) == 7 && slices.Equal(args[:4], cmdWait) && args[4] == systemdrun.LogDir:
		// A simulated job ends as it starts: the wait has nothing to wait for.
		return out(h.jobStatus(args[5])), true
	case len(args) == 4 && args[0] == "tail" && args[1] == "-c" && strings.HasPrefix(args[3], systemdrun.LogDir+"/"):
		unit := strings.TrimSuffix(strings.TrimPrefix(args[3], systemdrun.LogDir+"/"), ".log")
		j := h.jobs[unit]
		if j == nil {
			return fail(1, "", fmt.Sprintf("tail: cannot open '%s' for reading: No such file or directory\n", args[3])), true
		}
		return out(j.log), true
	}
	return patchpilot.Result{}, false
}

// dpkgList is dpkg-query's listing of the collectors' format.
func (h *Host) dpkgList() string {
	rec := h.fleet.rec
	var b strings.Builder
	for i, p := range rec.packages {
		if !h.hasPackage(i) {
			continue
		}
		version, srcVersion := p.version, p.srcVersion
		if p.upgrade >= 0 && h.upgraded.has(p.upgrade) {
			u := rec.catalog[p.upgrade]
			version = u.New
			if srcVersion == u.Old {
				srcVersion = u.New
			}
		}
		b.WriteString(p.qualified + "\t" + version + "\t" + p.arch + "\t" + p.source + "\t" + srcVersion + "\tii \n")
	}
	return b.String()
}

const aptHeader = "Reading package lists...\nBuilding dependency tree...\nReading state information...\n"

// distUpgrade is apt-get -s dist-upgrade's plan of the pending upgrades.
func (h *Host) distUpgrade() string {
	rec := h.fleet.rec
	var names []string
	var lines strings.Builder
	for i, u := range rec.catalog {
		if h.upgraded.has(i) {
			continue
		}
		names = append(names, u.Package)
		fmt.Fprintf(&lines, "Inst %s [%s] (%s %s [%s])\nConf %s (%s %s [%s])\n",
			u.Package, u.Old, u.New, u.Origin, u.Arch, u.Package, u.New, u.Origin, u.Arch)
	}
	var b strings.Builder
	b.WriteString(aptHeader + "Calculating upgrade...\n")
	if len(names) > 0 {
		b.WriteString("The following packages will be upgraded:\n" + wrap(names))
	}
	fmt.Fprintf(&b, "%d upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n", len(names))
	b.WriteString(lines.String())
	return b.String()
}

// wrap lists names as apt does, indented, about 80 columns a line.
func wrap(names []string) string {
	var b strings.Builder
	line := " "
	for _, n := range names {
		if len(line)+1+len(n) > 79 {
			b.WriteString(line + "\n")
			line = " "
		}
		line += " " + n
	}
	return b.String() + line + "\n"
}

// repoLine is the placeholder repository the simulated hosts' versions
// come from (madison and download print it).
const repoLine = "http://debian.invalid/debian bookworm/main"

// madison lists the versions the repositories offer: the new and the old
// version of an upgrade, the installed version of any other package.
func (h *Host) madison(names []string) patchpilot.Result {
	rec := h.fleet.rec
	var b, e strings.Builder
	for _, n := range names {
		i, ok := rec.pkgIndex[n]
		if !ok {
			fmt.Fprintf(&e, "N: Unable to locate package %s\n", n)
			continue
		}
		p := rec.packages[i]
		versions := []string{p.version}
		if p.upgrade >= 0 {
			versions = []string{rec.catalog[p.upgrade].New, p.version}
		}
		for _, v := range versions {
			fmt.Fprintf(&b, "%10s | %10s | %s %s Packages\n", n, v, repoLine, p.arch)
		}
	}
	return patchpilot.Result{Stdout: []byte(b.String()), Stderr: []byte(e.String())}
}

// query answers dpkg-query -W -f FORMAT -- NAMES for the package
// manager's two formats.
func (h *Host) query(format string, names []string) (patchpilot.Result, bool) {
	rec := h.fleet.rec
	var b, e strings.Builder
	for _, n := range names {
		v, ok := h.installedLocked(n)
		if !ok {
			fmt.Fprintf(&e, "dpkg-query: no packages found matching %s\n", n)
			continue
		}
		switch format {
		case debian.InstalledFormat:
			b.WriteString(n + "\t" + v + "\tii \n")
		case `${Architecture}\n`:
			b.WriteString(rec.packages[rec.pkgIndex[n]].arch + "\n")
		default:
			return patchpilot.Result{}, false
		}
	}
	res := patchpilot.Result{Stdout: []byte(b.String()), Stderr: []byte(e.String())}
	if e.Len() > 0 {
		res.ExitCode = 1
	}
	return res, true
}

// inDir runs the package manager's commands run in a directory: apt-get
// download keeps the .deb of a version the repository offers.
func (h *Host) inDir(dir string, args []string) (patchpilot.Result, bool) {
	if len(args) != 6 || args[0] != "apt-get" || args[3] != "download" || args[4] != "--" {
		return patchpilot.Result{}, false
	}
	name, version, _ := strings.Cut(args[5], "=")
	rec := h.fleet.rec
	i, ok := rec.pkgIndex[name]
	if !ok || !h.offers(i, version) {
		return fail(100, "", fmt.Sprintf("E: Can't find a source to download version '%s' of '%s'\n", version, name)), true
	}
	arch := rec.packages[i].arch
	file := path.Join(dir, debian.DebFileName(name, version, arch))
	if h.files == nil {
		h.files = map[string]string{}
	}
	h.files[file] = name + "\x00" + version
	return out(fmt.Sprintf("Get:1 %s %s %s %s [100 kB]\n", repoLine, name, arch, version)), true
}

// offers reports whether the repository has that version of the
// recording's i-th package.
func (h *Host) offers(i int, version string) bool {
	p := h.fleet.rec.packages[i]
	return version == p.version || (p.upgrade >= 0 && version == h.fleet.rec.catalog[p.upgrade].New)
}

// startJob runs a detached transaction: systemd-run ... -- /bin/sh -c
// WRAPPER patchpilot-job LOGDIR UNIT TIMEOUT ARGS. The transaction runs at
// once; its status and log stay for StatusCommand and LogCommand.
func (h *Host) startJob(args []string) (patchpilot.Result, bool) {
	i := slices.Index(args, "--")
	if i < 0 || len(args) < i+9 || !slices.Equal(args[i+1:i+5], cmdJobPrefix) || args[i+5] != systemdrun.LogDir {
		return patchpilot.Result{}, false
	}
	unit := args[i+6]
	cmd := args[i+8:]
	if _, ok := h.jobs[unit]; ok {
		return fail(1, "", "Failed to start transient service unit: Unit "+unit+".service already exists.\n"), true
	}
	res, ok := h.aptInstall(cmd)
	if !ok {
		return patchpilot.Result{}, false
	}
	if h.jobs == nil {
		h.jobs = map[string]*job{}
	}
	h.jobs[unit] = &job{args: slices.Clone(cmd), rc: res.ExitCode, log: string(res.Stdout) + string(res.Stderr)}
	return out(""), true
}

func (h *Host) jobStatus(unit string) string {
	j := h.jobs[unit]
	if j == nil {
		return "inactive\n-\n"
	}
	return "inactive\n" + strconv.Itoa(j.rc) + "\n" + strings.Join(j.args, "\n") + "\n"
}

// change is one package a transaction changes.
type change struct {
	upgrade  int // catalog index
	from, to string
}

// aptInstall runs apt-get install as the package manager builds it
// (ApplyArgs, SimulateCommand, RollbackArgs): with -s it only prints the
// plan; otherwise it installs, changing the host's versions.
func (h *Host) aptInstall(args []string) (patchpilot.Result, bool) {
	n := len(cmdAptInstall)
	if len(args) < n+4 || !slices.Equal(args[:n], cmdAptInstall) || args[n] != "-o" || !strings.HasPrefix(args[n+1], "DPkg::Lock::Timeout=") {
		return patchpilot.Result{}, false
	}
	rest := args[n+2:]
	simulate, downgrades := false, false
	if len(rest) >= 3 && rest[0] == "-s" && rest[1] == "-o" && rest[2] == "Debug::NoLocking=1" {
		simulate, rest = true, rest[3:]
	}
	if len(rest) > 0 && rest[0] == "--allow-downgrades" {
		downgrades, rest = true, rest[1:]
	}
	if len(rest) < 2 || rest[0] != "--" {
		return patchpilot.Result{}, false
	}
	rec := h.fleet.rec
	var changes []change
	var newest []string
	for _, t := range rest[1:] {
		var name, version string
		switch {
		case strings.HasPrefix(t, "/") && strings.HasSuffix(t, ".deb"):
			kept, ok := h.files[t]
			if !ok {
				return fail(100, aptHeader, "E: Unsupported file "+t+" given on commandline\n"), true
			}
			name, version, _ = strings.Cut(kept, "\x00")
		case strings.Contains(t, "="):
			name, version, _ = strings.Cut(t, "=")
		default:
			return patchpilot.Result{}, false // removals are not simulated
		}
		i, ok := rec.pkgIndex[name]
		if !ok {
			return fail(100, aptHeader, "E: Unable to locate package "+name+"\n"), true
		}
		if !h.offers(i, version) {
			return fail(100, aptHeader, fmt.Sprintf("E: Version '%s' for '%s' was not found\n", version, name)), true
		}
		cur, _ := h.installedLocked(name)
		if cur == version {
			newest = append(newest, fmt.Sprintf("%s is already the newest version (%s).\n", name, version))
			continue
		}
		if rec.packages[i].upgrade < 0 {
			return patchpilot.Result{}, false // installing a new package is not simulated
		}
		changes = append(changes, change{upgrade: rec.packages[i].upgrade, from: cur, to: version})
	}
	var up, down []string
	for _, c := range changes {
		u := rec.catalog[c.upgrade]
		if c.to == u.Old {
			down = append(down, u.Package)
		} else {
			up = append(up, u.Package)
		}
	}
	var b strings.Builder
	b.WriteString(aptHeader)
	for _, s := range newest {
		b.WriteString(s)
	}
	if len(up) > 0 {
		b.WriteString("The following packages will be upgraded:\n" + wrap(up))
	}
	if len(down) > 0 {
		b.WriteString("The following packages will be DOWNGRADED:\n" + wrap(down))
	}
	notUpgraded := 0
	for i := range rec.catalog {
		if !h.upgraded.has(i) {
			notUpgraded++
		}
	}
	notUpgraded -= len(up)
	fmt.Fprintf(&b, "%d upgraded, 0 newly installed, %d downgraded, 0 to remove and %d not upgraded.\n", len(up), len(down), notUpgraded)
	if len(down) > 0 && !downgrades {
		return fail(100, b.String(), "E: Packages were downgraded and -y was used without --allow-downgrades.\n"), true
	}
	if simulate {
		for _, c := range changes {
			u := rec.catalog[c.upgrade]
			fmt.Fprintf(&b, "Inst %s [%s] (%s %s [%s])\n", u.Package, c.from, c.to, u.Origin, u.Arch)
		}
		for _, c := range changes {
			u := rec.catalog[c.upgrade]
			fmt.Fprintf(&b, "Conf %s (%s %s [%s])\n", u.Package, c.to, u.Origin, u.Arch)
		}
		return out(b.String()), true
	}
	if len(changes) > 0 {
		b.WriteString("(Reading database ... 31452 files and directories currently installed.)\n")
	}
	for _, c := range changes {
		u := rec.catalog[c.upgrade]
		fmt.Fprintf(&b, "Preparing to unpack .../%s ...\nUnpacking %s (%s) over (%s) ...\n",
			debian.DebFileName(u.Package, c.to, u.Arch), u.Package, c.to, c.from)
		if c.to == u.New {
			h.upgraded.set(c.upgrade)
		} else {
			h.upgraded.clear(c.upgrade)
		}
	}
	for _, c := range changes {
		fmt.Fprintf(&b, "Setting up %s (%s) ...\n", rec.catalog[c.upgrade].Package, c.to)
	}
	return out(b.String()), true
}
