package app

import (
	"os"
	"os/user"
	"regexp"
	"strconv"
)

// ViaSudo ends the actor of a person who ran patchpilot as root through
// sudo: "user:alice (via sudo)".
const ViaSudo = " (via sudo)"

// localNamePattern is what a local user's name may be to be written into
// an actor: a login name as useradd and directory services make them.
var localNamePattern = regexp.MustCompile(`^[A-Za-z0-9._@\\][A-Za-z0-9._@\\$-]{0,255}$`)

// LocalActor is the actor of the person running patchpilot on this
// machine, recorded by every local front end (the CLI) as the creator of
// a rollout, the approver of a stage, the person who cleared a
// quarantine or created a token, and in the audit log:
//
//   - "user:" and the name of the operating-system user the process runs
//     as (os/user.Current), or its numeric id when the system knows no
//     name for it;
//   - when that user is root and SUDO_USER names another user, as sudo
//     records the user who invoked it, "user:" and that name followed by
//     " (via sudo)": "user:alice (via sudo)". SUDO_USER is honoured only
//     for root: an unprivileged user cannot name someone else by setting
//     it, and root may write the database anyway.
//
// It never depends on the SSH user (Options.SSHUser, the config's user:),
// which is whom patchpilot logs in as on the hosts, nor on $USER or any
// PATCHPILOT_* variable. Actors of the server are "token:NAME", those of
// schedules "schedule:NAME".
func (o Options) LocalActor() string {
	current := o.CurrentUser
	if current == nil {
		current = user.Current
	}
	uid, name := strconv.Itoa(os.Getuid()), ""
	if u, err := current(); err == nil && u != nil {
		uid, name = u.Uid, u.Username
	}
	if uid == "0" {
		if s := o.Getenv("SUDO_USER"); s != "" && s != "root" && localNamePattern.MatchString(s) {
			return "user:" + s + ViaSudo
		}
	}
	if !localNamePattern.MatchString(name) {
		name = uid
	}
	return "user:" + name
}

// LocalActor is the actor of the person running patchpilot on this
// machine (Options.LocalActor). Four-eyes does not bind it: whoever may
// write the database may do anything anyway.
func (a *App) LocalActor() string { return a.Options.LocalActor() }
