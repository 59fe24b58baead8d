package sim_test

import (
	"testing"

	"github.com/patchpilot/patchpilot/internal/sim"
)

// TestAdaptiveBeatsFixedWaves: on the same simulated failures, adaptive
// waves break fewer hosts on bad patches than the default plan's fixed
// waves, and reach the whole fleet in no more waves on good patches.
func TestAdaptiveBeatsFixedWaves(t *testing.T) {
	for _, hosts := range []int{20, 100, 500} {
		c, err := sim.CompareRollouts(sim.RolloutConfig{Seed: 1, Hosts: hosts, Rollouts: 1000})
		if err != nil {
			t.Fatal(err)
		}
		f, a := c.Fixed, c.Adaptive
		t.Logf("%d hosts: fixed %+v", hosts, f)
		t.Logf("%d hosts: adaptive %+v", hosts, a)
		if a.BadBrokenMean >= f.BadBrokenMean {
			t.Errorf("%d hosts: bad patches broke %.2f hosts on average with adaptive waves, %.2f with fixed; want fewer", hosts, a.BadBrokenMean, f.BadBrokenMean)
		}
		if a.BadBrokenMedian > f.BadBrokenMedian || a.BadBrokenP95 > f.BadBrokenP95 {
			t.Errorf("%d hosts: broken median/p95 adaptive %.0f/%.0f, fixed %.0f/%.0f; want no more", hosts,
				a.BadBrokenMedian, a.BadBrokenP95, f.BadBrokenMedian, f.BadBrokenP95)
		}
		if a.GoodWavesMedian > f.GoodWavesMedian {
			t.Errorf("%d hosts: good patches took %.0f waves (median) adaptive, %.0f fixed; want no more", hosts, a.GoodWavesMedian, f.GoodWavesMedian)
		}
	}
}
