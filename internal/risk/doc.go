// Package risk predicts which updates will break which hosts, from the
// fleet's own outcomes, with public priors for a fleet without history, and
// sizes adaptive rollout waves from the evidence of the rollout itself.
//
// # History
//
// Outcomes are records of one package update on one host (Record), kept as
// JSONL (ReadHistory, WriteHistory; FromOutcome flattens a stored
// patchpilot.Outcome). History accumulates them as failure counts per
// package (by source package), category, host, role, package-role pair and
// exact version, plus each host's last outcome. Features are always
// computed from the outcomes strictly before the one being scored
// (records sharing a time are scored before any of them is counted), so no
// outcome informs its own prediction, in training or in evaluation.
//
// # Model
//
// Failures are rare (a few per cent), most packages have little history,
// and the public data says that metadata carries little signal. The model
// is therefore built to degrade to a sensible prior rather than to fit
// hard:
//
//  1. Hierarchical empirical-Bayes shrinkage (Beta-binomial). The fleet's
//     rate is shrunk toward the public global rate; a category's toward the
//     fleet's rate times the category's public risk ratio; a package's
//     toward its category; a package on a role, a host, and an exact
//     version toward the level above. Each level's strength (pseudo-count)
//     is estimated by the method of moments from the spread of its groups'
//     rates beyond binomial noise, so a level whose groups do not differ
//     (public package histories do not) pools almost completely.
//  2. An L2-regularised logistic regression over the shrunk package rate's
//     log-odds and the other features (the log-odds shifts of role, host,
//     package-role and version history; new upstream release against
//     backported fix and the size of the jump, compared with the
//     distribution's version rules; CVE count and the public CVE-count
//     effect; severity; reboot; transaction size, removals and conflicts
//     from the dry run; the host's last outcome; dependents and services).
//     The penalty pulls the weights toward the cold-start model (package
//     log-odds and the exact version's shift with weight one, so that the
//     version's shrunk rate is used; public CVE effect; nothing else), not
//     toward zero: on data without signal the model stays at the prior.
//     Logistic regression rather than boosted trees because its
//     contributions explain themselves and it is hard to overfit with
//     hundreds of failures; the interactions trees would find are given to
//     it as shrunk package-role and version rates.
//  3. Platt scaling on the latest quarter of the training period (a
//     held-out fold by time), skipped when that fold has fewer than five
//     failures.
//
// A model is plain data (Model, MarshalModel), versioned by a hash of the
// training records, parameters and priors. Assess gives the probability, a
// level (LevelOf: low below 2%, high from 10%), reasons (each feature
// group's effect on the probability against an average update, worded
// from the counts behind it), warnings from facts (the dry run removes or
// holds packages, the version already failed in this fleet, the host's last
// patch was rolled back) and a strategy (StrategyFor).
//
// # Priors
//
// priors.json is written by cmd/riskpriors from the public regression data
// (security advisories later followed by a regression fix) and embedded;
// the product never reads the public files.
//
// # Adaptive waves
//
// NextWave treats the patch's failure rate in this fleet as Beta, with the
// model's probability as the prior mean and a small strength, and sizes
// each wave so that the broken hosts it may add, at the upper credible
// bound, fit in the rollout's remaining failure budget; it halts when the
// posterior says finishing would probably overrun the budget.
package risk
