package main

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

// historyExportCommand is "history export": the stored outcomes as JSONL.
func (c *cli) historyExportCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the outcome history as JSONL, one outcome per line",
		Long: `Write every stored outcome (from rollouts and from imports) in the history
format of docs/risk.md: one JSON object per line and package, oldest first,
with time, host, os, labels, package, source_package, from_version,
to_version, category, cves, severity, reboot_required, outcome and reason.
--out names the file to write (default: standard output). The format is
always JSONL: -o json is accepted, -o yaml is refused.`,
		Example: `  patchpilot history export --out fleet-history.jsonl
  patchpilot history export | grep '"rolled_back"'`,
		Args: exactArgs(0, "no arguments"),
		RunE: c.withReadApp(func(cmd *cobra.Command, _ []string, a *app.App) error {
			if f, _ := parseFormat(c.output); f == formatYAML {
				return patchpilot.Errorf(patchpilot.EINVALID, "history export writes JSONL only, not %s", f).
					WithHint("leave out -o, or give -o json")
			}
			w := c.stdout
			var out *os.File
			if file != "" && file != "-" {
				var err error
				if out, err = os.Create(file); err != nil {
					return patchpilot.Errorf(patchpilot.EINVALID, "history export: %w", err).
						WithHint("check that the directory of --out exists and is writable")
				}
				defer out.Close()
				w = out
			}
			bw := bufio.NewWriter(w)
			n, err := a.ExportHistory(cmd.Context(), bw)
			if err != nil {
				return err
			}
			if err := bw.Flush(); err != nil {
				return patchpilot.Errorf(patchpilot.EINTERNAL, "history export: %w", err)
			}
			if out != nil {
				if err := out.Close(); err != nil {
					return patchpilot.Errorf(patchpilot.EINTERNAL, "history export: %w", err)
				}
				fmt.Fprintf(c.stderr, "wrote %d records to %s\n", n, file)
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&file, "out", "", "file to write (default: standard output)")
	return cmd
}

// historyImportCommand is "history import FILE".
func (c *cli) historyImportCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE",
		Short: "Import outcomes from a JSONL history file",
		Long: `Read a history file in the format of docs/risk.md and store one outcome per
line, so that 'patchpilot model train' learns from it. time, package and
outcome (succeeded, failed or rolled_back) are required on every line. The
whole file is checked first: a malformed line is reported as FILE:LINE with
the field at fault, exit code 2, and nothing is stored.

Each line is stored as the outcome of rollout "import:<digest>" (host "-"
when the line names none), the digest taken over the record's content, not
its file name or line: importing the same file again stores nothing new,
and files that share a name never replace each other's records.

JSON fields: file, records, failures, written (the records newly stored: 0
when the file was imported already).`,
		Example: `  patchpilot history import fleet-history.jsonl
  patchpilot model train`,
		Args: exactArgs(1, "one history FILE"),
		RunE: c.withApp(func(cmd *cobra.Command, args []string, a *app.App) error {
			rep, err := a.ImportHistory(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return c.render(rep, func(w io.Writer) {
				fmt.Fprintf(w, "imported %d records (%d failures) from %s: %d new\n", rep.Records, rep.Failures, rep.File, rep.Written)
			})
		}),
	}
}
