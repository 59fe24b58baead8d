package ssh

import (
	"strconv"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// rootUser is the user that needs no sudo.
const rootUser = "root"

// commandPrefix makes command output parseable whatever the host's locale:
// parsers read English messages and C-collated, C-formatted numbers.
const commandPrefix = "env LC_ALL=C LANG=C"

// pidPrefix makes the remote shell report its process id on the first line
// of standard error before it becomes the command (exec keeps the id). The
// id is what lets an aborted command be killed: OpenSSH refuses signal
// requests on root logins, which is how most fleets are patched. sshd
// starts each command in a new session, so the id is also its process
// group, and kill reaches the command's children too.
const pidPrefix = "echo " + pidMarker + "$$ >&2; exec "

// pidMarker starts the line that carries the remote process id.
const pidMarker = "patchpilot-pid:"

// sudoPrefix runs a privileged command for a non-root user. -n makes sudo
// fail instead of waiting for a password that nobody will type.
const sudoPrefix = "sudo -n --"

// shellQuote quotes s for a POSIX shell. Inside single quotes every byte
// is literal; a single quote itself ends the quoted part, is added escaped
// with a backslash, and a new quoted part begins:
//
//	it's  becomes  'it'\''s'
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// commandLine builds the string that the remote shell runs for cmd. The
// remote side of SSH only accepts one string, which the login shell parses;
// quoting every argument makes that parse return the arguments unchanged.
func commandLine(cmd patchpilot.Command, user string, become bool) (string, error) {
	if len(cmd.Args) == 0 || cmd.Args[0] == "" {
		return "", patchpilot.Errorf(patchpilot.EINVALID, "empty command")
	}
	// env would take a program name with "=" for a variable assignment.
	if strings.Contains(cmd.Args[0], "=") {
		return "", patchpilot.Errorf(patchpilot.EINVALID, "program name %q contains \"=\"", cmd.Args[0])
	}
	var b strings.Builder
	b.WriteString(pidPrefix)
	if usesSudo(cmd, user, become) {
		b.WriteString(sudoPrefix)
		b.WriteByte(' ')
	}
	b.WriteString(commandPrefix)
	for i, a := range cmd.Args {
		// A NUL byte cannot cross exec(2): the argument would be cut short.
		if strings.IndexByte(a, 0) >= 0 {
			return "", patchpilot.Errorf(patchpilot.EINVALID, "argument %d of %s contains a NUL byte", i, cmd.Args[0])
		}
		b.WriteByte(' ')
		b.WriteString(shellQuote(a))
	}
	return b.String(), nil
}

// usesSudo reports whether cmd runs through sudo: privileged commands do
// when the host allows becoming root and the user is not root already.
func usesSudo(cmd patchpilot.Command, user string, become bool) bool {
	return cmd.Privileged && become && user != rootUser
}

// killLine is the command that kills the process group of an aborted
// command, through sudo when the command ran through it.
func killLine(pid int, sudo bool) string {
	line := "kill -KILL -- -" + strconv.Itoa(pid)
	if sudo {
		line = sudoPrefix + " " + line
	}
	return line
}
