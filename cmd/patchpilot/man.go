package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/patchpilot/patchpilot"
)

func (c *cli) manCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "man DIR",
		Short: "Write patchpilot's man pages (section 1) into DIR",
		Long: `Write one man page per command into DIR (created when missing):
patchpilot.1, patchpilot-rollout-start.1, ... Install them where man looks,
for example:

  patchpilot man /usr/local/share/man/man1 && mandb`,
		Example: `  patchpilot man ./man && man ./man/patchpilot-plan.1`,
		Args:    exactArgs(1, "one DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return patchpilot.Errorf(patchpilot.EINVALID, "man: %w", err).
					WithHint("name a directory that can be created and written")
			}
			header := &doc.GenManHeader{Title: "PATCHPILOT", Section: "1", Source: "patchpilot " + version, Manual: "patchpilot manual"}
			root := cmd.Root()
			// No generation date in the pages, so that the same version
			// writes the same pages.
			root.DisableAutoGenTag = true
			if err := doc.GenManTree(root, header, dir); err != nil {
				return patchpilot.Errorf(patchpilot.EINVALID, "man: write pages into %s: %w", dir, err)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				return patchpilot.Errorf(patchpilot.EINVALID, "man: %w", err)
			}
			fmt.Fprintf(c.stderr, "wrote %d man pages into %s\n", len(entries), dir)
			return nil
		},
	}
}
