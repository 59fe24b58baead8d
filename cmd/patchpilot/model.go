package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
)

func (c *cli) modelCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Train, inspect and evaluate the risk model",
		Long: `The risk model predicts which updates will break which hosts, from the
fleet's own outcomes ('patchpilot history'), with public priors for a fleet
without history. See docs/risk.md.`,
	}
	cmd.AddCommand(c.modelTrainCommand(), c.modelStatusCommand(), c.modelExplainCommand(), c.modelEvalCommand(),
		c.modelUseCommand())
	return cmd
}

func (c *cli) modelTrainCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "train",
		Short: "Train a model on the stored outcomes and make it the active one",
		Long: `Train on every stored outcome (rollouts and imported history) and store the
model as the active one; earlier models are kept. With no outcomes, or too
few to fit a regression, the model is the cold-start model: public priors
and whatever counts the fleet has. Prints what 'model status' prints.

The version is a hash of the training data, parameters and priors: training
again on the same outcomes gives the same version, and no second copy is
stored. When it is the active model the output starts with "unchanged:"
(JSON "unchanged": true) and nothing is recorded; an older stored copy is made
the active one again. The model.trained event names who trained, as
'model use' does.`,
		Args: exactArgs(0, "no arguments"),
		RunE: c.withApp(func(cmd *cobra.Command, _ []string, a *app.App) error {
			st, err := a.TrainModelBy(cmd.Context(), c.actor(a))
			if err != nil {
				return err
			}
			return c.render(st, func(w io.Writer) {
				if st.Unchanged {
					fmt.Fprintf(w, "unchanged:\tthe stored outcomes give the active model %s again; nothing new stored\n", st.ModelVersion)
				}
				writeModelStatus(w, st)
			})
		}),
	}
}

func (c *cli) modelStatusCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the active model: version, when and on what it was trained",
		Long: `Show the active model (or the cold-start model when none is stored).

JSON fields: model_version, stored, cold_start, trained_at, saved_at, source,
records, failures, base_rate, from, to, regression, calibrated, prior_rate,
prior_source, stored_records, models, recent_base_rate, stored_models,
activation (how: trained, retrained, restored or cold_start; at, by,
trigger, previous, comparison, text), last_refused (the latest automatic
retrain that was refused, with both models' scores) and fleet_calibration:
{outcomes, unrelated, models, metrics: {n, failure_rate, auc, brier,
log_loss, ece, calibration: [{lo, hi, n, predicted, observed}]}}.

The calibration is measured on the fleet's own outcomes: each rollout stores
the model's probability of failure of each host's patch when it starts, and
the table sets it beside what happened, by bucket of predicted probability
(empty buckets left out). Outcomes labelled unrelated to the patch (an
unreachable host, an injected fault, a manual abort) are left out.`,
		Args: exactArgs(0, "no arguments"),
		RunE: c.withReadApp(func(cmd *cobra.Command, _ []string, a *app.App) error {
			st, err := a.ModelStatus(cmd.Context())
			if err != nil {
				if st.Unreadable == "" {
					return err
				}
				// Show what the store lists, so that another model can
				// be chosen, then fail with the error and its hint.
				if rerr := c.render(st, func(w io.Writer) { writeModelStatus(w, st) }); rerr != nil {
					return rerr
				}
				return err
			}
			return c.render(st, func(w io.Writer) { writeModelStatus(w, st) })
		}),
	}
}

func writeModelStatus(w io.Writer, st app.ModelStatus) {
	fmt.Fprintf(w, "model:\t%s\n", st.ModelVersion)
	if st.Unreadable != "" {
		fmt.Fprintf(w, "stored:\t%s\n", st.SavedAt.Local().Format(time.DateTime))
		fmt.Fprintf(w, "unreadable:\t%s\n", st.Unreadable)
		fmt.Fprintf(w, "history:\t%s stored now; %s stored\n", counted(st.StoredRecords, "record", "records"), counted(st.Models, "model", "models"))
		writeModelActivation(w, st)
		return
	}
	switch {
	case !st.Stored:
		fmt.Fprintf(w, "stored:\tno (cold-start model from public priors; run 'patchpilot model train')\n")
	default:
		fmt.Fprintf(w, "stored:\t%s\n", st.SavedAt.Local().Format(time.DateTime))
	}
	if st.TrainedAt != nil {
		fmt.Fprintf(w, "trained:\t%s\n", st.TrainedAt.Local().Format(time.DateTime))
	} else {
		// The cold-start model is built afresh by each command, so its
		// training time is just now: a time would suggest a training run
		// that never happened.
		fmt.Fprintf(w, "trained:\tnever\n")
	}
	if st.Records > 0 {
		fmt.Fprintf(w, "trained on:\t%s (%s) from %s, %s to %s\n", counted(st.Records, "record", "records"),
			counted(st.Failures, "failure", "failures"), dash(st.Source), st.From.Format(time.DateOnly), st.To.Format(time.DateOnly))
	} else {
		fmt.Fprintf(w, "trained on:\tno outcomes\n")
	}
	fmt.Fprintf(w, "base rate:\t%.2f%%; moving base rate %.2f%% (recent outcomes weigh more)\n", 100*st.BaseRate, 100*st.RecentBaseRate)
	fit := "regression fitted"
	if st.ColdStart {
		fit = app.ColdStartMeaning
	}
	if st.Calibrated {
		fit += ", calibrated"
	}
	fmt.Fprintf(w, "method:\t%s\n", fit)
	fmt.Fprintf(w, "priors:\t%.2f%% (%s)\n", 100*st.PriorRate, st.PriorSource)
	fmt.Fprintf(w, "history:\t%s stored now; %s stored\n", counted(st.StoredRecords, "record", "records"), counted(st.Models, "model", "models"))
	writeModelActivation(w, st)
	writeFleetCalibration(w, st.Fleet)
}

// writeFleetCalibration prints the calibration of the predictions stored
// with the fleet's rollouts: a summary line, then the table by bucket.
func writeFleetCalibration(w io.Writer, fc *app.FleetCalibration) {
	if fc == nil {
		return
	}
	m := fc.Metrics
	if m.N == 0 {
		fmt.Fprintf(w, "calibration:\tno outcome with a stored prediction yet (each rollout stores one per host when it starts)\n")
		return
	}
	fmt.Fprintf(w, "calibration:\t%s with a stored prediction (%d unrelated to the patch left out), models %s: observed %.1f%% failed, Brier %.4f, ECE %.4f\n",
		counted(m.N, "outcome", "outcomes"), fc.Unrelated, strings.Join(fc.Models, ", "), 100*m.Rate, m.Brier, m.ECE)
	fmt.Fprintln(w, "\nPREDICTED\tN\tMEAN PREDICTED\tOBSERVED")
	for _, b := range m.Calibration {
		fmt.Fprintf(w, "%.1f%%-%.1f%%\t%d\t%.1f%%\t%.1f%%\n", 100*b.Lo, 100*b.Hi, b.N, 100*b.Predicted, 100*b.Observed)
	}
}

func (c *cli) modelExplainCommand() *cobra.Command {
	var q app.ExplainQuery
	cmd := &cobra.Command{
		Use:   "explain",
		Short: "Explain the model's main terms, or one package's score",
		Long: `Explain the active model in words: its terms, largest first (weights are
changes in the log-odds of failure per unit), how strongly it pools packages
toward their category, and the packages that failed most in this fleet.
With --package, also score that package's pending update and list the
reasons: on the --host named, or on the first host (by name) with a pending
update of it. A package is scored only as an update (its versions decide
several terms): exit 4 when no host, or not the host named, has a pending
update of it, and 4 when the host does not exist. For a package's past
outcomes, see 'patchpilot history'.

JSON fields: model_version, cold_start, terms: [{feature, weight, text}],
shrinkage, riskiest_packages, assessment (as in 'assess').`,
		Example: `  patchpilot model explain
  patchpilot model explain --package openssl --host lb-1`,
		Args: exactArgs(0, "no arguments"),
		RunE: c.withReadApp(func(cmd *cobra.Command, _ []string, a *app.App) error {
			ex, err := a.ExplainModel(cmd.Context(), q)
			if err != nil {
				return err
			}
			return c.render(ex, func(w io.Writer) {
				fmt.Fprintf(w, "model %s%s\n\n", ex.ModelVersion, coldStartNote(ex.ColdStart))
				fmt.Fprintln(w, "TERM\tWEIGHT\tMEANING")
				for _, t := range ex.Terms {
					fmt.Fprintf(w, "%s\t%+.2f\t%s\n", t.Feature, t.Weight, dash(t.Text))
				}
				fmt.Fprintf(w, "\nshrinkage: %s\n", ex.Shrinkage)
				for _, r := range ex.Riskiest {
					fmt.Fprintf(w, "history: %s\n", r)
				}
				if ex.Assessment != nil {
					fmt.Fprintln(w)
					writeLines(w, app.AssessmentLines(q.Package, *ex.Assessment))
				}
			})
		}),
	}
	cmd.Flags().StringVar(&q.Package, "package", "", "score this package (binary or source name)")
	cmd.Flags().StringVar(&q.Host, "host", "", "on this host (its labels and pending version)")
	return cmd
}

func coldStartNote(cold bool) string {
	if cold {
		return " (" + app.ColdStartMeaning + "; 'patchpilot model train' fits one once the history has enough outcomes)"
	}
	return ""
}

func (c *cli) modelEvalCommand() *cobra.Command {
	var train, test, priors string
	var frozen bool
	cmd := &cobra.Command{
		Use:   "eval --train FILE --test FILE",
		Short: "Train on one history file and measure the model on another",
		Long: `Train a model on the --train history (JSONL, docs/risk.md) and score the --test
history in time order, beside the rule-based baseline (the planner's point score) and
the moving base rate (the training data's failure rate weighted by recency,
moved on by each test outcome as it is replayed): AUC, Brier score, log loss (natural log),
expected calibration error and a calibration table for each, then, per
period of the test file (years, or quarters when it spans less than two years),
the model's Brier score beside the base rate's, flagging a period where the
model is worse than answering the base rate. Split by time,
never at random: train on the past, test on what followed. The store is not
used or changed.

--freeze-history scores every test record against the training history only,
for outcomes that became known long after the update (public advisory data).
--priors replaces the embedded cold-start priors, which are computed from all
the public data, with a file computed only from data before the test split
(go run ./cmd/riskpriors -until DATE -out FILE), so nothing leaks.

The test period should come after the training period: when the --test file
has outcomes older than the newest of --train, a warning says so (on
standard error, and in "warnings") and the figures flatter the model.

JSON fields: model_version, train, test, training (the model's training
info), freeze_history, warnings, and model, baseline, base_rate, each with name, n,
failure_rate, auc, brier, log_loss, ece and calibration: [{lo, hi, n,
predicted, observed}], and periods: [{period, n, failures, failure_rate,
base_rate, model_brier, base_rate_brier, worse}].`,
		Example: `  patchpilot model eval --train train.jsonl --test test.jsonl
  patchpilot model eval --train train.jsonl --test test.jsonl -o json --freeze-history`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if train == "" || test == "" {
				return patchpilot.Errorf(patchpilot.EINVALID, "model eval needs --train FILE and --test FILE").
					WithHint("split a history by time: train on the past, test on what followed")
			}
			f, err := parseFormat(c.output)
			if err != nil {
				return err
			}
			res, err := app.EvaluateFiles(train, test, app.EvalOptions{FreezeHistory: frozen, PriorsFile: priors, Now: time.Now().UTC()})
			if err != nil {
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(c.stderr, "warning: %s\n", w)
			}
			if f != formatTable {
				return c.render(res, nil)
			}
			// The report aligns its own tables.
			t := res.Training
			out := escapingWriter{c.stdout}
			fmt.Fprintf(out, "model %s trained on %s (%s) from %s; test %s from %s\n\n",
				res.ModelVersion, counted(t.Records, "record", "records"), counted(t.Failures, "failure", "failures"), res.Train,
				counted(res.Model.N, "record", "records"), res.Test)
			res.WriteTables(out)
			return nil
		},
	}
	cmd.Flags().StringVar(&train, "train", "", "JSONL history to train on")
	cmd.Flags().StringVar(&test, "test", "", "JSONL history to evaluate on (later than --train)")
	cmd.Flags().BoolVar(&frozen, "freeze-history", false, "score test records against the training history only")
	cmd.Flags().StringVar(&priors, "priors", "", "priors file to use instead of the embedded ones (from cmd/riskpriors)")
	return cmd
}
