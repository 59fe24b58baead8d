package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot/internal/app"
)

func (c *cli) modelUseCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "use VERSION",
		Short: "Make a stored model version the active one",
		Long: `Make a stored model the active one again, for instance after an automatic
retrain kept a model that serves the fleet worse. Every trained model stays
stored ('patchpilot model status' counts them; the model.trained events name
them). The next automatic retrain compares its candidate with this model.
Prints what 'model status' prints.

Exit codes: 0 when the model is active; 2 when VERSION is empty, or the
stored model cannot be read by this version of patchpilot (the active model
stays); 4 when no model of that version is stored.`,
		Example: `  patchpilot model use rm-1b869525c984`,
		Args:    exactArgs(1, "the model version"),
		RunE: c.withExistingApp(func(cmd *cobra.Command, args []string, a *app.App) error {
			st, err := a.UseModel(cmd.Context(), args[0], c.actor(a))
			if err != nil {
				return err
			}
			return c.render(st, func(w io.Writer) { writeModelStatus(w, st) })
		}),
	}
}

// maxModelsShown is how many stored models the status lists as text.
const maxModelsShown = 10

// writeModelActivation says why the active model is active and whether
// an automatic retrain was refused since.
func writeModelActivation(w io.Writer, st app.ModelStatus) {
	act := st.Activation
	line := act.Text
	if act.At != nil {
		line += " at " + act.At.Local().Format(time.DateTime)
	}
	fmt.Fprintf(w, "active because:\t%s\n", line)
	if len(st.StoredModels) > 0 {
		fmt.Fprintln(w, "stored models (newest first):")
		for i, m := range st.StoredModels {
			if i == maxModelsShown {
				fmt.Fprintf(w, "  ... and %d more (-o json lists them all)\n", len(st.StoredModels)-i)
				break
			}
			var t struct {
				Records  int `json:"records"`
				Failures int `json:"failures"`
			}
			_ = json.Unmarshal(m.Info, &t)
			active := ""
			if m.Active {
				active = "  (active)"
			}
			fmt.Fprintf(w, "  %s  saved %s, %s (%s)%s\n", m.Version, m.SavedAt.Local().Format(time.DateTime),
				counted(t.Records, "record", "records"), counted(t.Failures, "failure", "failures"), active)
		}
	}
	if r := st.LastRefused; r != nil {
		c := r.Comparison
		fmt.Fprintf(w, "last refused:\t%s: retrain (%s) scored Brier %.4f against %.4f of %s (margin %.4f) on the newest %d outcomes\n",
			r.At.Local().Format(time.DateTime), r.Trigger, c.CandidateBrier, c.CurrentBrier, c.CurrentVersion, c.Margin, c.Newest)
	}
}
