package app

import "github.com/patchpilot/patchpilot/internal/integrations"

// CheckSecretFile checks that the file at path may hold a secret (a token,
// a key): a regular file only its owner may read, owned by the user
// patchpilot runs as or root. Every secret file patchpilot reads follows
// this rule; what names the setting in errors ("--token-file").
func CheckSecretFile(what, path string) error { return integrations.CheckSecretFile(what, path) }
