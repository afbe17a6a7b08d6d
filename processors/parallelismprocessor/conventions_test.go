package parallelismprocessor

import (
	"hash/maphash"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/acceltel/acceltel/internal/planner"
)

// OTEL_RESOURCE_ATTRIBUTES turns every value into a string.
func TestParseSpecFromEnvironmentStrings(t *testing.T) {
	attrs := pcommon.NewMap()
	require.NoError(t, attrs.FromRaw(map[string]any{
		"ml.job.id": "j", "ml.model.parameters": "7e9", "ml.model.key_value_heads": "8",
		"ml.model.gated_mlp": "true", "ml.train.flash_attention": true, "ml.train.sequence_length": "4096",
		"ml.train.global_batch_size": 512.0, "ml.train.micro_batch_size": "2", "ml.train.precision": "BF16",
		"ml.parallel.tensor": "4", "ml.parallel.pipeline": int64(2), "ml.parallel.context": "1",
		"ml.zero.stage": "0", "ml.recompute": "Selective", "ml.job.gpu.count": "64",
		"ml.train.overlap_grad_reduce": "false", "ml.something.else": "ignored",
	}))
	s, training := parseSpec(attrs)
	assert.True(t, training)
	assert.Empty(t, s.missing())
	assert.Empty(t, s.invalid())
	assert.Equal(t, planner.Model{Params: 7e9, KVHeads: 8, GatedMLP: true, FlashAttention: true, SeqLen: 4096,
		GlobalBatch: 512, Precision: planner.BF16}, s.model)
	assert.Equal(t, planner.Layout{TP: 4, PP: 2, CP: 1, MicroBatch: 2, VirtualStages: 1, Recompute: planner.RecomputeSelective}, s.layout)
	assert.Equal(t, 64, s.gpus)
	assert.True(t, s.present.has(fOverlap))
	assert.False(t, s.overlap)
}

func TestParseSpecReportsMissingAndInvalid(t *testing.T) {
	attrs := pcommon.NewMap()
	require.NoError(t, attrs.FromRaw(map[string]any{
		"ml.job.id": "j", "ml.model.layers": 32, "ml.model.hidden_size": "4096",
		"ml.train.sequence_length": 2048, "ml.parallel.pipeline": 1, "ml.parallel.data": 8,
		"ml.parallel.tensor": 0, "ml.zero.stage": 4, "ml.train.precision": "int8", "ml.train.micro_batch_size": 1.5,
	}))
	s, _ := parseSpec(attrs)
	assert.Equal(t, []string{
		"ml.model.layers, ml.model.hidden_size and ml.model.attention_heads (or ml.model.parameters)",
		"ml.train.global_batch_size",
	}, s.missing())
	assert.Equal(t, []string{"ml.train.micro_batch_size", "ml.train.precision", "ml.parallel.tensor", "ml.zero.stage"}, s.invalid())

	only := pcommon.NewMap()
	only.PutStr("ml.job.id", "j")
	only.PutStr("service.name", "train")
	_, training := parseSpec(only)
	assert.False(t, training, "a job id alone (our own output, say) is not a training job")
}

func TestWeightedMedianIgnoresOutliers(t *testing.T) {
	var w stepWindow
	for _, s := range []sample{{1.0, 10}, {1.1, 10}, {60, 1}, {0.9, 10}, {1.05, 10}} {
		w.add(s, 4) // the first falls out of the window
	}
	m, _ := w.median(nil)
	assert.InDelta(t, 1.05, m, 0, "the checkpoint step (60 s) does not move it")
	w.reset()
	m, _ = w.median(nil)
	assert.Zero(t, m)
	w.add(sample{2, 1}, 4)
	w.add(sample{3, 100}, 4)
	m, _ = w.median(nil)
	assert.InDelta(t, 3, m, 0, "weights are steps")
}

func TestHashAttrsIgnoresOrder(t *testing.T) {
	seed := maphash.MakeSeed()
	a, b := pcommon.NewMap(), pcommon.NewMap()
	a.PutStr("host.name", "n1")
	a.PutInt("rank", 3)
	b.PutInt("rank", 3)
	b.PutStr("host.name", "n1")
	assert.Equal(t, hashAttrs(seed, 0, a), hashAttrs(seed, 0, b))
	b.PutInt("rank", 4)
	assert.NotEqual(t, hashAttrs(seed, 0, a), hashAttrs(seed, 0, b))
	c := pcommon.NewMap()
	c.PutStr("host.name", "n2")
	c.PutInt("rank", 3)
	assert.NotEqual(t, hashAttrs(seed, 0, a), hashAttrs(seed, 0, c))
	swapped, d := pcommon.NewMap(), pcommon.NewMap()
	swapped.PutStr("x", "y")
	d.PutStr("y", "x")
	assert.NotEqual(t, hashAttrs(seed, 0, swapped), hashAttrs(seed, 0, d), "keys and values are told apart")
}

// ingestOne feeds one resource with a single metric to a fresh job.
func ingestOne(t *testing.T, h *harness, attrs map[string]any, fill func(pmetric.Metric)) *job {
	t.Helper()
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	require.NoError(t, rm.Resource().Attributes().FromRaw(attrs))
	fill(rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty())
	h.send(md)
	return h.p.jobs[attrs["ml.job.id"].(string)]
}

func TestStepGaugesInMilliseconds(t *testing.T) {
	h := newHarness(t, nil)
	attrs := smallModel("job-gauge", nil)
	var j *job
	for i, v := range []float64{1500, 9999, 1400, 9999} {
		ts := pcommon.NewTimestampFromTime(t0.Add(time.Duration(i/2) * time.Second)) // pairs share a timestamp
		j = ingestOne(t, h, attrs, func(m pmetric.Metric) {
			m.SetName(metricStepDuration)
			m.SetUnit("ms")
			dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
			dp.SetTimestamp(ts)
			dp.SetDoubleValue(v)
		})
	}
	require.NotNil(t, j)
	assert.InDelta(t, 2, j.pending, 0, "a point sent again with the same timestamp counts once")
	require.Len(t, j.steps.buf, 2)
	assert.InDelta(t, 1.5, j.steps.buf[0].v, 1e-12)
	assert.InDelta(t, 1.4, j.steps.buf[1].v, 1e-12)
}

func TestStepTimeFromTokensWhenNoDurationIsSent(t *testing.T) {
	h := newHarness(t, nil)
	attrs := smallModel("job-tokens", layoutAttrs(planner.Layout{TP: 1, PP: 1, DP: 8, CP: 1, MicroBatch: 4, VirtualStages: 1, Recompute: "none"}))
	const perStep = 256 * 2048
	start := pcommon.NewTimestampFromTime(t0)
	var j *job
	for i := range 4 {
		j = ingestOne(t, h, attrs, func(m pmetric.Metric) {
			m.SetName(metricTokens)
			m.SetUnit("{token}")
			sum := m.SetEmptySum()
			sum.SetIsMonotonic(true)
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dp := sum.DataPoints().AppendEmpty()
			dp.SetStartTimestamp(start)
			dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(10*(i+1)) * time.Second)))
			dp.SetIntValue(int64(5 * perStep * (i + 1))) // 5 steps per 10 s
		})
	}
	assert.InDelta(t, 15, j.pending, 1e-9, "the first point is the baseline")
	m, _ := j.steps.median(nil)
	assert.InDelta(t, 2, m, 1e-9)
}

func TestDeltaHistogramSteps(t *testing.T) {
	h := newHarness(t, nil)
	j := ingestOne(t, h, smallModel("job-delta", nil), func(m pmetric.Metric) {
		m.SetName(metricStepDuration)
		m.SetUnit("s")
		hist := m.SetEmptyExponentialHistogram()
		hist.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
		dp := hist.DataPoints().AppendEmpty()
		dp.SetCount(4)
		dp.SetSum(10)
	})
	assert.InDelta(t, 4, j.pending, 0, "a delta point counts from the first")
	m, _ := j.steps.median(nil)
	assert.InDelta(t, 2.5, m, 0)
}
