package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot/internal/app"
)

func (c *cli) advisoriesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "advisories",
		Short: "Import security advisories (OSV)",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "import PATH",
		Short: "Import OSV advisories from a JSON file, a directory or a zip",
		Long: `Import OSV records (Debian, Ubuntu, AlmaLinux, Rocky, SUSE, ...) from a JSON
file, a directory of them, or a zip as osv.dev exports them (all.zip per
ecosystem). Pending updates then show the CVEs and severity they fix.
Records are checked before anything is stored: a malformed record rejects
the import and names the file and position at fault. A record replaces a
stored one with the same id only when it is at least as new.`,
		Example: `  patchpilot advisories import Debian-all.zip
  patchpilot advisories import ./osv/`,
		Args: exactArgs(1, "one PATH"),
		RunE: c.withApp(func(cmd *cobra.Command, args []string, a *app.App) error {
			read, written, err := a.ImportAdvisories(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			res := struct {
				Path    string `json:"path"`
				Read    int    `json:"read"`
				Written int    `json:"written"`
			}{args[0], read, written}
			return c.render(res, func(w io.Writer) {
				fmt.Fprintf(w, "Imported %d advisories from %s (%d new or updated).\n", read, args[0], written)
			})
		}),
	})
	return cmd
}
