// Package sim generates fleet histories with a known hidden risk function,
// for evaluating the risk model and for the demo, and simulates rollouts of
// good and bad patches to compare adaptive against fixed waves.
//
// The hidden risk function is written out in hidden.go: a failure's
// log-odds is a base rate plus a category effect, a per-package effect (a
// few packages are markedly riskier), a large effect for one bad
// package-role combination (openssl on load balancers) that no rule of
// the baseline can see, a penalty for new upstream versions growing with
// the size of the jump, removals in the transaction, a per-patch effect
// shared by every host that gets the same version (some releases are
// simply bad), a per-host effect, and Bernoulli noise. Everything is drawn
// from a seeded source: the same configuration gives the same history.
package sim
