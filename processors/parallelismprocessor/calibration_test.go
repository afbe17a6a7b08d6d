package parallelismprocessor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceltel/acceltel/internal/planner"
)

// commBoundJob is a 13B GPT on 32 H100s (4 nodes of 8) running tensor
// parallelism over a whole node, where communication is a large part of
// the predicted step.
func commBoundJob(id string, l planner.Layout) (map[string]any, planner.Model, planner.Cluster) {
	a := smallModel(id, layoutAttrs(l))
	a["ml.model.layers"] = 40
	a["ml.model.hidden_size"] = 5120
	a["ml.model.attention_heads"] = 40
	a["ml.train.global_batch_size"] = 512
	a["ml.job.gpu.count"] = 32
	a["ml.job.node.gpu.count"] = 8
	m, _ := planner.Model{Layers: 40, Hidden: 5120, Heads: 40, Vocab: 51200, SeqLen: 2048, GlobalBatch: 512, Precision: planner.BF16}.Normalize()
	g, _ := planner.GPUPresetForModel("NVIDIA H100 80GB HBM3")
	c, _ := planner.Cluster{GPU: g, GPUs: 32, GPUsPerNode: 8}.Normalize()
	return a, m, c
}

// A job whose measured step shows communication 3× slower than the preset's
// links (a congested fabric, a misconfigured NCCL): its residual is put on
// the communication factor, and the recommendation moves to the layout that
// is fastest when communication costs 3×, one that exposes less of it.
func TestCommunicationCalibrationChangesRecommendation(t *testing.T) {
	const slow = 3.0
	cur := planner.Layout{TP: 8, PP: 1, DP: 4, CP: 1, ZeRO: 1, MicroBatch: 1, VirtualStages: 1, Recompute: planner.RecomputeSelective}
	attrs, m, c := commBoundJob("job-comm", cur)
	opts := planner.Options{OverlapGradReduce: true}
	calibrated := opts
	calibrated.Scale = planner.Scale{Communication: slow}

	plain, err := planner.Evaluate(&m, &c, cur, opts)
	require.NoError(t, err)
	require.Greater(t, plain.Time.Communication()/plain.IterationSeconds, 0.25, "the job must be communication-heavy for the test to mean anything")
	measured, err := planner.Evaluate(&m, &c, cur, calibrated)
	require.NoError(t, err)

	before, err := planner.Plan(m, c, planner.Constraints{MaxMicroBatch: 16}, opts, 1)
	require.NoError(t, err)
	after, err := planner.Plan(m, c, planner.Constraints{MaxMicroBatch: 16}, calibrated, 1)
	require.NoError(t, err)
	b0, b1 := before.Layouts[0], after.Layouts[0]
	require.NotEqual(t, b0.Layout, b1.Layout, "the calibration must change the planner's choice")
	// Under slow communication the new choice communicates less than the old one would.
	b0Slow, err := planner.Evaluate(&m, &c, b0.Layout, calibrated)
	require.NoError(t, err)
	exposed := func(e planner.Evaluation) float64 { return e.Time.Communication() + e.Time.DPOverlapped }
	assert.Less(t, exposed(b1), exposed(b0Slow))
	t.Logf("before: %v (%.3f s), after: %v (%.3f s); current %v measured %.3f s, predicted %.3f s",
		b0.Layout, b0.IterationSeconds, b1.Layout, b1.IterationSeconds, cur, measured.IterationSeconds, plain.IterationSeconds)

	h := newHarness(t, func(c *Config) { c.Calibration.Smoothing = 1 })
	job := newTrainingJob(attrs)
	ticks := h.run(130*time.Second, 5, constant(measured.IterationSeconds), job)
	require.Len(t, ticks, 2)
	recommended := func(tick int) planner.Layout {
		rec := plans(ticks[tick])["job-comm"].gauges["acceltel.plan.recommendation"]
		require.Len(t, rec, 1)
		a := rec[0].Attributes().AsRaw()
		return planner.Layout{TP: int(a["ml.parallel.tensor"].(int64)), PP: int(a["ml.parallel.pipeline"].(int64)),
			DP: int(a["ml.parallel.data"].(int64)), CP: int(a["ml.parallel.context"].(int64)),
			VirtualStages: int(a["ml.parallel.virtual_stages"].(int64)), ZeRO: int(a["ml.zero.stage"].(int64)),
			Recompute: planner.Recompute(a["ml.recompute"].(string)), MicroBatch: int(a["ml.train.micro_batch_size"].(int64))}
	}
	// First interval: planned uncalibrated, then calibrated on the measurement.
	assert.Equal(t, b0.Layout, recommended(0))
	first := plans(ticks[0])["job-comm"]
	assert.InDelta(t, (plain.IterationSeconds-measured.IterationSeconds)/measured.IterationSeconds,
		first.value(t, "acceltel.plan.prediction.error"), 1e-9)
	assert.InDelta(t, measured.IterationSeconds/plain.IterationSeconds, first.value(t, "acceltel.plan.calibration.factor"), 1e-6)
	assert.InDelta(t, slow, h.p.jobs["job-comm"].scale.Communication, 1e-6, "the residual is communication")
	assert.Zero(t, h.p.jobs["job-comm"].scale.Compute, "the compute factor is left alone")
	// Second interval: the search runs with the calibration.
	assert.Equal(t, b1.Layout, recommended(1))
	second := plans(ticks[1])["job-comm"]
	assert.InDelta(t, 0, second.value(t, "acceltel.plan.prediction.error"), 1e-6)
	assert.Equal(t, 2, h.logs.FilterMessageSnippet("faster layout").Len(), "the changed recommendation is logged")
}

// A job whose predicted step is almost all compute gets its residual on the
// compute factor.
func TestCalibrationGoesToComputeWhenCommunicationIsSmall(t *testing.T) {
	_, best := planFor(t, smallModel("x", nil), planner.Layout{})
	require.Less(t, best.Time.Communication()/best.IterationSeconds, 0.25)
	h := newHarness(t, func(c *Config) { c.Calibration.Smoothing = 1 })
	job := newTrainingJob(smallModel("job-compute", layoutAttrs(best.Layout)))
	h.run(70*time.Second, 5, constant(1.4*best.IterationSeconds), job)
	s := h.p.jobs["job-compute"].scale
	assert.Zero(t, s.Communication)
	assert.Greater(t, s.Compute, 1.3)
}
