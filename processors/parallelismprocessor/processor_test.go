package parallelismprocessor

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/acceltel/acceltel/internal/planner"
)

// constant returns a step time that does not depend on the job.
func constant(s float64) func(*trainingJob) float64 { return func(*trainingJob) float64 { return s } }

func TestJobOnGoodLayoutHasSmallErrorAndNoRecommendation(t *testing.T) {
	h := newHarness(t, nil)
	_, best := planFor(t, smallModel("x", nil), planner.Layout{})
	attrs := smallModel("job-good", layoutAttrs(best.Layout))
	job := newTrainingJob(attrs)
	measured := 1.03 * best.IterationSeconds

	ticks := h.run(70*time.Second, 5, constant(measured), job)
	require.Len(t, ticks, 1)
	got := plans(ticks[0])["job-good"]
	require.NotNil(t, got.gauges, "no plan metrics for the job")

	assert.Equal(t, map[string]any{"ml.job.id": "job-good"}, got.resource.AsRaw())
	assert.InDelta(t, best.IterationSeconds, got.value(t, "acceltel.plan.step.duration.predicted"), 1e-9)
	assert.InDelta(t, measured, got.value(t, "acceltel.plan.step.duration.measured"), 1e-9)
	assert.InDelta(t, (1-1.03)/1.03, got.value(t, "acceltel.plan.prediction.error"), 1e-9)
	assert.InDelta(t, math.Exp(0.3*math.Log(1.03)), got.value(t, "acceltel.plan.calibration.factor"), 1e-9)
	assert.InDelta(t, 1, got.value(t, "acceltel.plan.speedup"), 0)
	assert.Empty(t, got.gauges["acceltel.plan.recommendation"])
	headroom := got.gauges["acceltel.plan.memory.headroom"]
	require.Len(t, headroom, 1, "only the current layout's headroom without a recommendation")
	layout, _ := headroom[0].Attributes().Get("acceltel.plan.layout")
	assert.Equal(t, "current", layout.Str())
	assert.InDelta(t, best.MemoryCapacity-best.Memory.Total, float64(headroom[0].IntValue()), 1)
	assert.Empty(t, got.gauges["acceltel.plan.step.cost"], "no price, no cost")

	assert.Equal(t, map[string]int64{"missing_attributes": 0, "invalid_input": 0, "unknown_gpu": 0}, incomplete(t, ticks[0]))
	assert.Zero(t, h.logs.FilterMessageSnippet("faster layout").Len())
	assert.Zero(t, h.logs.FilterMessageSnippet("cannot be planned").Len())
}

func TestJobOnBadLayoutGetsRecommendation(t *testing.T) {
	h := newHarness(t, nil)
	// Tensor parallelism over 8 GPUs of two 4-GPU nodes, micro-batch 1.
	bad := planner.Layout{TP: 8, PP: 1, DP: 1, CP: 1, MicroBatch: 1, VirtualStages: 1, Recompute: planner.RecomputeNone}
	attrs := smallModel("job-bad", layoutAttrs(bad))
	cur, best := planFor(t, attrs, bad)
	job := newTrainingJob(attrs)

	ticks := h.run(190*time.Second, 5, constant(cur.IterationSeconds), job)
	require.Len(t, ticks, 3)
	for _, tick := range ticks {
		got := plans(tick)["job-bad"]
		assert.Greater(t, got.value(t, "acceltel.plan.speedup"), 1.1)
		assert.InDelta(t, cur.IterationSeconds/best.IterationSeconds, got.value(t, "acceltel.plan.speedup"), 1e-9)
		rec := got.gauges["acceltel.plan.recommendation"]
		require.Len(t, rec, 1)
		assert.Equal(t, int64(1), rec[0].IntValue())
		assert.Equal(t, map[string]any{
			"ml.parallel.tensor":         int64(best.TP),
			"ml.parallel.pipeline":       int64(best.PP),
			"ml.parallel.data":           int64(best.DP),
			"ml.parallel.context":        int64(best.CP),
			"ml.parallel.virtual_stages": int64(best.VirtualStages),
			"ml.zero.stage":              int64(best.ZeRO),
			"ml.recompute":               string(best.Recompute),
			"ml.train.micro_batch_size":  int64(best.MicroBatch),
		}, rec[0].Attributes().AsRaw())
		// Whatever the planner ranks first, it keeps tensor parallelism
		// inside a node and uses all 8 GPUs.
		assert.LessOrEqual(t, best.TP, 4)
		assert.Equal(t, 8, best.GPUs())
		assert.Len(t, got.gauges["acceltel.plan.memory.headroom"], 2)
	}
	logged := h.logs.FilterMessageSnippet("faster layout")
	require.Equal(t, 1, logged.Len(), "logged once, not at every interval")
	fields := logged.All()[0].ContextMap()
	assert.Equal(t, "job-bad", fields["job"])
	assert.Equal(t, bad.String(), fields["current"])
	assert.Equal(t, best.Layout.String(), fields["recommended"])

	// The job is relaunched on the recommended layout: the recommendation
	// goes away, and that is logged once too.
	job.attrs = smallModel("job-bad", layoutAttrs(best.Layout))
	ticks = h.run(120*time.Second, 5, constant(best.IterationSeconds), job)
	require.NotEmpty(t, ticks)
	got := plans(ticks[len(ticks)-1])["job-bad"]
	assert.Empty(t, got.gauges["acceltel.plan.recommendation"])
	assert.InDelta(t, 1, got.value(t, "acceltel.plan.speedup"), 0)
	assert.InDelta(t, best.IterationSeconds, got.value(t, "acceltel.plan.step.duration.measured"), 1e-9,
		"samples of the old layout are dropped on a relaunch")
	assert.Equal(t, 1, h.logs.FilterMessageSnippet("within the margin").Len())
}

func TestCalibrationConvergesToMeasuredOverPredicted(t *testing.T) {
	h := newHarness(t, nil)
	_, best := planFor(t, smallModel("x", nil), planner.Layout{})
	job := newTrainingJob(smallModel("job-slow", layoutAttrs(best.Layout)))
	const ratio = 1.5

	ticks := h.run(20*time.Minute, 5, constant(ratio*best.IterationSeconds), job)
	require.GreaterOrEqual(t, len(ticks), 15)
	prevErr := math.Inf(1)
	for i, tick := range ticks {
		got := plans(tick)["job-slow"]
		e := got.value(t, "acceltel.plan.prediction.error")
		if i == 0 {
			assert.InDelta(t, (1-ratio)/ratio, e, 1e-9, "the first prediction is the planner's own")
		}
		assert.Less(t, math.Abs(e), prevErr, "tick %d: the error shrinks as the factor converges", i)
		prevErr = math.Abs(e)
		// The calibrated prediction and the factor move together.
		f := got.value(t, "acceltel.plan.calibration.factor")
		assert.Greater(t, f, 1.0)
		assert.LessOrEqual(t, f, ratio+1e-9)
	}
	last := plans(ticks[len(ticks)-1])["job-slow"]
	assert.InDelta(t, ratio, last.value(t, "acceltel.plan.calibration.factor"), 0.01)
	assert.InDelta(t, 0, last.value(t, "acceltel.plan.prediction.error"), 0.01)
	assert.Empty(t, last.gauges["acceltel.plan.recommendation"], "a uniformly slow job is not on a worse layout")
}

func TestCalibrationIsClamped(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Calibration = CalibrationConfig{Smoothing: 1, Min: 0.5, Max: 2, CommunicationShare: 0.25}
	})
	_, best := planFor(t, smallModel("x", nil), planner.Layout{})
	fast := newTrainingJob(smallModel("job-fast", layoutAttrs(best.Layout)))
	slow := newTrainingJob(smallModel("job-hung", layoutAttrs(best.Layout)))
	step := func(j *trainingJob) float64 {
		if j == slow {
			return 50 * best.IterationSeconds
		}
		return best.IterationSeconds / 50
	}
	ticks := h.run(70*time.Second, 5, step, fast, slow)
	require.Len(t, ticks, 1)
	// The factor that moves (compute: the step is almost all compute) is
	// clamped; the overall factor, which leaves the small communication part
	// alone, stays within the clamp.
	assert.InDelta(t, 0.5, h.p.jobs["job-fast"].scale.Compute, 0)
	assert.InDelta(t, 2, h.p.jobs["job-hung"].scale.Compute, 0)
	fastF := plans(ticks[0])["job-fast"].value(t, "acceltel.plan.calibration.factor")
	hungF := plans(ticks[0])["job-hung"].value(t, "acceltel.plan.calibration.factor")
	assert.True(t, fastF >= 0.5 && fastF < 0.55, "job-fast overall factor %v", fastF)
	assert.True(t, hungF <= 2 && hungF > 1.9, "job-hung overall factor %v", hungF)
}

func TestJobsThatCannotBePlanned(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.DefaultGPU = "" })
	_, best := planFor(t, smallModel("x", nil), planner.Layout{})
	good := layoutAttrs(best.Layout)

	missing := smallModel("job-missing", good)
	delete(missing, "ml.parallel.tensor")
	delete(missing, "ml.train.micro_batch_size")
	invalid := smallModel("job-invalid", good)
	invalid["ml.recompute"] = "sometimes"
	unknown := smallModel("job-tpu", good)
	unknown["ml.job.gpu.model"] = "TPU v5p"
	noGPU := smallModel("job-nogpu", good)
	delete(noGPU, "ml.job.gpu.model")
	mismatch := smallModel("job-mismatch", good)
	mismatch["ml.job.gpu.count"] = 16 // tp·pp·dp·cp is 8
	jobs := []*trainingJob{newTrainingJob(missing), newTrainingJob(invalid), newTrainingJob(unknown), newTrainingJob(noGPU), newTrainingJob(mismatch)}

	ticks := h.run(70*time.Second, 5, constant(1), jobs...)
	require.Len(t, ticks, 1)
	assert.Equal(t, map[string]int64{"missing_attributes": 1, "invalid_input": 2, "unknown_gpu": 2}, incomplete(t, ticks[0]))
	for _, id := range []string{"job-missing", "job-invalid", "job-tpu", "job-nogpu", "job-mismatch"} {
		assert.NotContains(t, plans(ticks[0]), id)
	}

	ticks = h.run(120*time.Second, 5, constant(1), jobs...)
	require.Len(t, ticks, 2)
	warned := h.logs.FilterMessageSnippet("cannot be planned")
	require.Equal(t, 5, warned.Len(), "once per job, not once per interval")
	byJob := map[string]string{}
	for _, e := range warned.All() {
		byJob[e.ContextMap()["job"].(string)] = e.Message
	}
	assert.Contains(t, byJob["job-missing"], "ml.parallel.tensor")
	assert.Contains(t, byJob["job-missing"], "ml.train.micro_batch_size")
	assert.NotContains(t, byJob["job-missing"], "ml.train.sequence_length")
	assert.Contains(t, byJob["job-invalid"], "ml.recompute")
	assert.Contains(t, byJob["job-tpu"], `"TPU v5p"`)
	assert.Contains(t, byJob["job-nogpu"], "default_gpu")
	assert.Contains(t, byJob["job-mismatch"], "not the 16 GPUs")
}

func TestJobsExpireAfterTTL(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.JobTTL = 3 * time.Minute })
	_, best := planFor(t, smallModel("x", nil), planner.Layout{})
	job := newTrainingJob(smallModel("job-gone", layoutAttrs(best.Layout)))
	ticks := h.run(70*time.Second, 5, constant(best.IterationSeconds), job)
	require.Len(t, ticks, 1)
	require.Contains(t, plans(ticks[0]), "job-gone")
	require.Contains(t, h.p.jobs, "job-gone")

	// Only unrelated metrics from now on: the job stays until the TTL.
	unrelated := func() pmetric.Metrics { return otherMetrics(h.clock) }
	for h.clock.Before(t0.Add(70*time.Second + 3*time.Minute)) {
		h.clock = h.clock.Add(30 * time.Second)
		h.send(unrelated())
		require.Contains(t, h.p.jobs, "job-gone")
	}
	h.clock = h.clock.Add(2 * time.Minute)
	in := unrelated()
	want := unrelated()
	out := h.send(in)
	assert.NotContains(t, h.p.jobs, "job-gone")
	assert.Empty(t, h.p.hosts)
	require.NoError(t, pmetrictest.CompareMetrics(want, out), "nothing is appended once no job is left")

	// A job that comes back starts afresh.
	h.run(30*time.Second, 5, constant(3*best.IterationSeconds), job)
	require.Contains(t, h.p.jobs, "job-gone")
	assert.InDelta(t, 1, h.p.jobs["job-gone"].factor, 0)
	assert.InDelta(t, 10, h.p.jobs["job-gone"].pending, 0, "only the new samples")
}

// otherMetrics is what else flows through a collector: host and GPU
// metrics of every kind, none of them a training job's.
func otherMetrics(now time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	ts := pcommon.NewTimestampFromTime(now)
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "node-exporter")
	rm.Resource().Attributes().PutStr("k8s.job.name", "nightly-backup") // a Job, but not a training job
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	g := ms.AppendEmpty()
	g.SetName("system.cpu.utilization")
	g.SetUnit("1")
	for i := range 4 {
		dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetDoubleValue(0.1 * float64(i))
		dp.Attributes().PutInt("cpu", int64(i))
	}
	s := ms.AppendEmpty()
	s.SetName("system.network.io")
	s.SetUnit("By")
	sum := s.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := sum.DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	dp.SetIntValue(123456)
	hm := ms.AppendEmpty()
	hm.SetName("http.server.request.duration")
	hm.SetUnit("s")
	hdp := hm.SetEmptyHistogram().DataPoints().AppendEmpty()
	hdp.SetTimestamp(ts)
	hdp.SetCount(3)
	hdp.SetSum(0.3)
	e := ms.AppendEmpty()
	e.SetName("ml.inference.latency") // ml.* but not a training metric
	edp := e.SetEmptyExponentialHistogram().DataPoints().AppendEmpty()
	edp.SetTimestamp(ts)
	edp.SetCount(2)
	su := ms.AppendEmpty()
	su.SetName("rpc.duration")
	sdp := su.SetEmptySummary().DataPoints().AppendEmpty()
	sdp.SetTimestamp(ts)
	sdp.SetCount(1)
	return md
}

func TestUnrelatedMetricsPassThroughUnchanged(t *testing.T) {
	h := newHarness(t, nil)
	for i := range 12 { // across several intervals
		h.clock = t0.Add(time.Duration(i) * 30 * time.Second)
		want := otherMetrics(h.clock)
		got := h.send(otherMetrics(h.clock))
		require.NoError(t, pmetrictest.CompareMetrics(want, got))
	}
	assert.Empty(t, h.p.jobs)
	assert.Zero(t, h.logs.Len(), "nothing to say about a pipeline without training jobs")

	// With a job in the batch, the incoming part is still unchanged and the
	// plan metrics come after it.
	_, best := planFor(t, smallModel("x", nil), planner.Layout{})
	job := newTrainingJob(smallModel("job-1", layoutAttrs(best.Layout)))
	appended := 0
	for range 8 {
		h.clock = h.clock.Add(10 * time.Second)
		in, want := otherMetrics(h.clock), otherMetrics(h.clock)
		job.report(t, in, h.clock, 5, best.IterationSeconds)
		in.ResourceMetrics().At(1).CopyTo(want.ResourceMetrics().AppendEmpty())
		got := h.send(in)
		n := want.ResourceMetrics().Len()
		if got.ResourceMetrics().Len() > n {
			appended++
		}
		head := pmetric.NewMetrics()
		for k := 0; k < n; k++ {
			got.ResourceMetrics().At(k).CopyTo(head.ResourceMetrics().AppendEmpty())
		}
		require.NoError(t, pmetrictest.CompareMetrics(want, head))
	}
	assert.Equal(t, 1, appended, "the interval elapsed once")
}

func TestPriceAddsCostPerStep(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.PricePerGPUHour = 3 })
	bad := planner.Layout{TP: 8, PP: 1, DP: 1, CP: 1, MicroBatch: 1, VirtualStages: 1, Recompute: planner.RecomputeNone}
	attrs := smallModel("job-cost", layoutAttrs(bad))
	cur, best := planFor(t, attrs, bad)
	ticks := h.run(70*time.Second, 5, constant(cur.IterationSeconds), newTrainingJob(attrs))
	require.Len(t, ticks, 1)
	got := plans(ticks[0])["job-cost"]
	f := got.value(t, "acceltel.plan.calibration.factor")
	costs := map[string]float64{}
	for _, dp := range got.gauges["acceltel.plan.step.cost"] {
		l, _ := dp.Attributes().Get("acceltel.plan.layout")
		costs[l.Str()] = dp.DoubleValue()
	}
	assert.InDelta(t, f*cur.IterationSeconds/3600*8*3, costs["current"], 1e-12)
	assert.InDelta(t, f*best.IterationSeconds/3600*8*3, costs["recommended"], 1e-12)
}

func TestDisabledMetricsAreNotEmitted(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Metrics.AcceltelPlanRecommendation.Enabled = false
		c.Metrics.AcceltelPlanJobsIncomplete.Enabled = false
	})
	bad := planner.Layout{TP: 8, PP: 1, DP: 1, CP: 1, MicroBatch: 1, VirtualStages: 1, Recompute: planner.RecomputeNone}
	attrs := smallModel("job-bad", layoutAttrs(bad))
	cur, _ := planFor(t, attrs, bad)
	ticks := h.run(70*time.Second, 5, constant(cur.IterationSeconds), newTrainingJob(attrs))
	require.Len(t, ticks, 1)
	got := plans(ticks[0])
	assert.NotContains(t, got, "", "no jobs.incomplete")
	assert.Empty(t, got["job-bad"].gauges["acceltel.plan.recommendation"])
	assert.Greater(t, got["job-bad"].value(t, "acceltel.plan.speedup"), 1.1)
	assert.Equal(t, 1, h.logs.FilterMessageSnippet("faster layout").Len(), "the log does not depend on the metric")
}

func TestMinSamplesHoldsPlanning(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MinSamples = 100 })
	_, best := planFor(t, smallModel("x", nil), planner.Layout{})
	job := newTrainingJob(smallModel("job-sparse", layoutAttrs(best.Layout)))
	// 1 step per 10 s: 100 steps take 1000 s.
	ticks := h.run(15*time.Minute, 1, constant(best.IterationSeconds), job)
	for _, tick := range ticks {
		assert.NotContains(t, plans(tick), "job-sparse")
		assert.Equal(t, int64(0), incomplete(t, tick)["missing_attributes"], "waiting is not incomplete")
	}
	ticks = h.run(3*time.Minute, 1, constant(best.IterationSeconds), job)
	planned := 0
	for _, tick := range ticks {
		if _, ok := plans(tick)["job-sparse"]; ok {
			planned++
		}
	}
	assert.Equal(t, 1, planned)
}

func TestMaxJobsBoundsState(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxJobs = 2 })
	_, best := planFor(t, smallModel("x", nil), planner.Layout{})
	var jobs []*trainingJob
	for _, id := range []string{"a", "b", "c", "d"} {
		jobs = append(jobs, newTrainingJob(smallModel(id, layoutAttrs(best.Layout))))
	}
	h.run(70*time.Second, 5, constant(best.IterationSeconds), jobs...)
	assert.Len(t, h.p.jobs, 2)
	assert.Equal(t, 1, h.logs.FilterMessageSnippet("max_jobs").Len())
}

func TestStepsWithoutJobIDAreWarnedOnce(t *testing.T) {
	h := newHarness(t, nil)
	_, best := planFor(t, smallModel("x", nil), planner.Layout{})
	attrs := smallModel("", layoutAttrs(best.Layout))
	delete(attrs, "ml.job.id")
	h.run(130*time.Second, 5, constant(1), newTrainingJob(attrs))
	assert.Empty(t, h.p.jobs)
	warned := h.logs.FilterMessageSnippet("without ml.job.id")
	require.Equal(t, 1, warned.Len())
	assert.True(t, strings.Contains(warned.All()[0].Message, "k8s.job.name"))
}

// A gateway may run the processor again on what agents already planned.
func TestOwnOutputIsNotATrainingJob(t *testing.T) {
	agent := newHarness(t, nil)
	bad := planner.Layout{TP: 8, PP: 1, DP: 1, CP: 1, MicroBatch: 1, VirtualStages: 1, Recompute: planner.RecomputeNone}
	attrs := smallModel("job-bad", layoutAttrs(bad))
	cur, _ := planFor(t, attrs, bad)
	ticks := agent.run(70*time.Second, 5, constant(cur.IterationSeconds), newTrainingJob(attrs))
	require.Len(t, ticks, 1)

	gateway := newHarness(t, nil)
	planned := pmetric.NewMetrics()
	for i := 0; i < ticks[0].ResourceMetrics().Len(); i++ {
		if rm := ticks[0].ResourceMetrics().At(i); rm.ScopeMetrics().At(0).Scope().Name() != "" {
			rm.CopyTo(planned.ResourceMetrics().AppendEmpty())
		}
	}
	require.Positive(t, planned.ResourceMetrics().Len())
	for range 10 {
		gateway.clock = gateway.clock.Add(30 * time.Second)
		in := pmetric.NewMetrics()
		planned.CopyTo(in)
		want := pmetric.NewMetrics()
		planned.CopyTo(want)
		require.NoError(t, pmetrictest.CompareMetrics(want, gateway.send(in)))
	}
	assert.Empty(t, gateway.p.jobs)
}
