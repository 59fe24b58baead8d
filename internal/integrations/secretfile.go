package integrations

import (
	"os"
	"strconv"
	"syscall"

	"github.com/patchpilot/patchpilot"
)

// CheckSecretFile checks that the file at path may hold a secret: a
// regular file that neither its group nor others may read or write, owned
// by the user patchpilot runs as (or root), as ssh demands of a private
// key. what names the setting in errors ("--token-file",
// "ops-slack: webhook_url: secret file").
func CheckSecretFile(what, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINVALID, "%s: %w", what, err)
	}
	return checkSecretFileInfo(what, path, fi)
}

func checkSecretFileInfo(what, path string, fi os.FileInfo) error {
	if fi.IsDir() {
		return patchpilot.Errorf(patchpilot.EINVALID, "%s %s: is a directory, expected a file holding the secret", what, path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return patchpilot.Errorf(patchpilot.EINVALID, "%s %s: readable by others (mode %04o): a secret must be readable by its owner only", what, path, fi.Mode().Perm()).
			WithHint("chmod 600 " + path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid := os.Getuid(); int(st.Uid) != uid && st.Uid != 0 {
			return patchpilot.Errorf(patchpilot.EINVALID, "%s %s: owned by uid %d, not by the user patchpilot runs as (uid %d) or root: another user could change the secret", what, path, st.Uid, uid).
				WithHint("chown " + strconv.Itoa(uid) + " " + path + " && chmod 600 " + path)
		}
	}
	return nil
}

// ValidEnvName reports whether s is an environment variable's name:
// [A-Za-z_][A-Za-z0-9_]*.
func ValidEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// envNameMessage refuses an env value that is no variable's name without
// repeating it: it may be the secret itself.
const envNameMessage = "env: expected the name of an environment variable (letters, digits and '_', not starting with a digit); the value given is not one, and is not repeated here in case it is the secret itself"

const envNameHint = "write {env: VARIABLE} naming the variable that holds the secret; if you wrote the secret itself, remove it from the file and rotate it"
