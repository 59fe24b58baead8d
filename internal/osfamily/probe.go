package osfamily

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// Files the probe reads. The Debian reboot flags are read here too, though
// only Debian and Ubuntu write them, because one more small file in the
// same command is cheaper than another command.
const (
	FileOSRelease       = "/etc/os-release"
	FileOSReleaseVendor = "/usr/lib/os-release" // the fallback os-release(5) names
	FileBootID          = "/proc/sys/kernel/random/boot_id"
	FileRebootRequired  = "/var/run/reboot-required"
	FileRebootPackages  = "/var/run/reboot-required.pkgs"
)

// probeFiles is the order in which the probe reads its files; ParseFiles
// relies on tail printing them in this order.
var probeFiles = []string{FileOSRelease, FileOSReleaseVendor, FileBootID, FileRebootRequired, FileRebootPackages}

// Probe step names.
const (
	StepFiles = "files"
	StepUname = "uname"
)

// ProbeSteps returns the commands that identify a host: one tail that
// prints several small files, each under a "==> path <==" header (tail
// prints headers for empty files too, which cat and grep do not, and
// reports missing files on stderr only), and uname for the host name,
// kernel release and machine.
func ProbeSteps() []Step {
	return []Step{
		{Name: StepFiles, Cmd: patchpilot.Command{Args: append([]string{"tail", "-v", "-n", "+1", "--"}, probeFiles...)}},
		unameStep(),
	}
}

func unameStep() Step {
	return Step{Name: StepUname, Cmd: patchpilot.Command{Args: []string{"uname", "-n", "-r", "-m"}}}
}

// OSRelease is what patchpilot reads from os-release(5).
type OSRelease struct {
	ID              string
	IDLike          []string
	VersionID       string
	PrettyName      string
	VersionCodename string
}

// Probe is a host's identity as the probe found it.
type Probe struct {
	OS       OSRelease
	Family   patchpilot.OSFamily
	Hostname string
	Kernel   string
	Arch     string
	BootID   string
	// Files holds the files the probe found, by path; a missing file has
	// no entry.
	Files map[string][]byte
}

// Facts returns facts filled with the probe's identity fields.
func (p Probe) Facts() patchpilot.Facts {
	return patchpilot.Facts{
		Hostname:   p.Hostname,
		OSFamily:   p.Family,
		OSName:     p.OS.ID,
		OSVersion:  p.OS.VersionID,
		OSPretty:   p.OS.PrettyName,
		OSCodename: p.OS.VersionCodename,
		Kernel:     p.Kernel,
		Arch:       p.Arch,
		BootID:     p.BootID,
	}
}

// ParseProbe parses the output of ProbeSteps. The files step exits 1 when
// some file is missing, which is normal; it fails only when no os-release
// was found.
func ParseProbe(t Transcript) (Probe, error) {
	var p Probe
	files, ok := t.Get(StepFiles)
	if !ok {
		return p, patchpilot.Errorf(patchpilot.EINVALID, "transcript has no output of %s", StepFiles)
	}
	p.Files = ParseFiles(files.Stdout, probeFiles)
	osr, ok := p.Files[FileOSRelease]
	if !ok {
		osr, ok = p.Files[FileOSReleaseVendor]
	}
	if !ok {
		return p, (&patchpilot.Error{Code: patchpilot.EUNSUPPORTED, Message: "host has no /etc/os-release nor /usr/lib/os-release"}).
			WithHint("patchpilot supports Linux distributions that ship os-release(5)")
	}
	var err error
	if p.OS, err = ParseOSRelease(osr); err != nil {
		return p, err
	}
	p.Family = FromOSRelease(p.OS.ID, p.OS.IDLike)
	p.BootID = strings.TrimSpace(string(p.Files[FileBootID]))

	uname, err := t.Need(unameStep())
	if err != nil {
		return p, err
	}
	if p.Hostname, p.Kernel, p.Arch, err = ParseUname(uname.Stdout); err != nil {
		return p, err
	}
	return p, nil
}

// ParseFiles splits the output of "tail -v -n +1 -- paths..." into the
// files' contents. Only headers naming the requested paths, in the
// requested order, count as headers, so a file whose content looks like a
// header cannot inject another file.
func ParseFiles(out []byte, paths []string) map[string][]byte {
	files := map[string][]byte{}
	next := 0 // index in paths of the earliest header still possible
	cur := ""
	var body []byte
	flush := func(separated bool) {
		if cur == "" {
			return
		}
		if separated {
			// tail prints a newline before every header but the first.
			body = bytes.TrimSuffix(body, []byte("\n"))
		}
		files[cur] = body
	}
	rest := out
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i+1], rest[i+1:]
		} else {
			rest = nil
		}
		if path, ok := header(line); ok {
			if i := indexFrom(paths, path, next); i >= 0 {
				flush(true)
				cur, body, next = path, []byte{}, i+1
				continue
			}
		}
		if cur != "" {
			body = append(body, line...)
		}
	}
	flush(false)
	return files
}

func header(line []byte) (string, bool) {
	s := strings.TrimSuffix(string(line), "\n")
	if !strings.HasPrefix(s, "==> ") || !strings.HasSuffix(s, " <==") || len(s) < 8 {
		return "", false
	}
	return s[4 : len(s)-4], true
}

func indexFrom(list []string, s string, from int) int {
	for i := from; i < len(list); i++ {
		if list[i] == s {
			return i
		}
	}
	return -1
}

// ParseOSRelease parses os-release(5): KEY=value lines, values optionally
// quoted with shell-style escapes; comments and blank lines are skipped.
// It fails when there is no ID, since nothing can be decided without one.
func ParseOSRelease(data []byte) (OSRelease, error) {
	var r OSRelease
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return r, patchpilot.Errorf(patchpilot.EINVALID, "os-release line %d: want KEY=value, got %q", n+1, truncate(line, 80))
		}
		val = unquote(val)
		switch key {
		case "ID":
			r.ID = strings.ToLower(val)
		case "ID_LIKE":
			r.IDLike = strings.Fields(strings.ToLower(val))
		case "VERSION_ID":
			r.VersionID = val
		case "PRETTY_NAME":
			r.PrettyName = val
		case "VERSION_CODENAME":
			r.VersionCodename = val
		}
	}
	if r.ID == "" {
		return r, patchpilot.Errorf(patchpilot.EINVALID, "os-release has no ID field")
	}
	return r, nil
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		if v[0] == '"' {
			if s, err := strconv.Unquote(v); err == nil {
				return s
			}
		}
		return v[1 : len(v)-1]
	}
	return v
}

// ParseUname parses "uname -n -r -m", which prints the node name, kernel
// release and machine on one line in that fixed order.
func ParseUname(out []byte) (hostname, kernel, arch string, err error) {
	f := strings.Fields(string(out))
	if len(f) != 3 {
		return "", "", "", patchpilot.Errorf(patchpilot.EINVALID, "uname output: want node name, kernel release and machine, got %q", truncate(string(out), 120))
	}
	return f[0], f[1], f[2], nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
