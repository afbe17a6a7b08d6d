package parallelismprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/acceltel/acceltel/internal/planner"
	"github.com/acceltel/acceltel/processors/parallelismprocessor/internal/metadata"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// harness drives the processor with a clock of its own.
type harness struct {
	t     testing.TB
	p     *parallelismProcessor
	proc  processor.Metrics
	sink  *consumertest.MetricsSink
	logs  *observer.ObservedLogs
	clock time.Time
}

func newHarness(t testing.TB, edit func(*Config)) *harness {
	cfg := createDefaultConfig().(*Config)
	cfg.Interval = time.Minute
	cfg.MinSamples = 10
	cfg.DefaultGPU = "h100-sxm"
	if edit != nil {
		edit(cfg)
	}
	require.NoError(t, cfg.Validate())
	core, logs := observer.New(zapcore.DebugLevel)
	set := processortest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	h := &harness{t: t, sink: new(consumertest.MetricsSink), logs: logs, clock: t0}
	h.p = newProcessor(cfg, set)
	h.p.now = func() time.Time { return h.clock }
	var err error
	h.proc, err = processorhelper.NewMetrics(context.Background(), set, cfg, h.sink, h.p.processMetrics,
		processorhelper.WithCapabilities(capabilities))
	require.NoError(t, err)
	require.NoError(t, h.proc.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, h.proc.Shutdown(context.Background())) })
	return h
}

// run has the jobs report every 10 s for the given time, `steps` steps
// each, taking the step time stepS returns for a job, and returns the batches
// in which the interval elapsed.
func (h *harness) run(d time.Duration, steps int, stepS func(*trainingJob) float64, jobs ...*trainingJob) []pmetric.Metrics {
	h.t.Helper()
	var ticks []pmetric.Metrics
	for end := h.clock.Add(d); h.clock.Before(end); {
		h.clock = h.clock.Add(10 * time.Second)
		md := pmetric.NewMetrics()
		for _, j := range jobs {
			j.report(h.t, md, h.clock, steps, stepS(j))
		}
		n := md.ResourceMetrics().Len()
		out := h.send(md)
		if out.ResourceMetrics().Len() > n {
			ticks = append(ticks, out)
		}
	}
	return ticks
}

// send consumes md at the harness's clock and returns what came out.
func (h *harness) send(md pmetric.Metrics) pmetric.Metrics {
	h.t.Helper()
	n := len(h.sink.AllMetrics())
	require.NoError(h.t, h.proc.ConsumeMetrics(context.Background(), md))
	all := h.sink.AllMetrics()
	require.Len(h.t, all, n+1)
	return all[n]
}

// trainingJob sends a job's resource attributes and a cumulative step
// histogram as the OTel SDK would every export interval.
type trainingJob struct {
	attrs map[string]any
	start pcommon.Timestamp
	count uint64
	sum   float64
}

func newTrainingJob(attrs map[string]any) *trainingJob {
	return &trainingJob{attrs: attrs, start: pcommon.NewTimestampFromTime(t0.Add(-time.Hour))}
}

// report appends the job's resource with `steps` more steps of stepS seconds.
func (j *trainingJob) report(t testing.TB, md pmetric.Metrics, now time.Time, steps int, stepS float64) {
	rm := md.ResourceMetrics().AppendEmpty()
	require.NoError(t, rm.Resource().Attributes().FromRaw(j.attrs))
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	m := ms.AppendEmpty()
	m.SetName(metricStepDuration)
	m.SetUnit("s")
	hist := m.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	j.count += uint64(steps)
	j.sum += float64(steps) * stepS
	dp := hist.DataPoints().AppendEmpty()
	dp.SetStartTimestamp(j.start)
	dp.SetTimestamp(pcommon.NewTimestampFromTime(now))
	dp.SetCount(j.count)
	dp.SetSum(j.sum)
	dp.ExplicitBounds().FromRaw([]float64{0.5, 1, 2, 4, 8})
	dp.BucketCounts().FromRaw([]uint64{0, 0, j.count, 0, 0, 0})
}

// smallModel is a 1.3B GPT on 8 H100s in two 4-GPU nodes.
func smallModel(id string, layout map[string]any) map[string]any {
	a := map[string]any{
		"ml.job.id":                  id,
		"service.name":               "train",
		"ml.model.layers":            24,
		"ml.model.hidden_size":       2048,
		"ml.model.attention_heads":   16,
		"ml.model.vocab_size":        51200,
		"ml.train.sequence_length":   2048,
		"ml.train.global_batch_size": 256,
		"ml.train.precision":         "bf16",
		"ml.job.gpu.count":           8,
		"ml.job.node.gpu.count":      4,
		"ml.job.gpu.model":           "NVIDIA H100 80GB HBM3",
	}
	for k, v := range layout {
		a[k] = v
	}
	return a
}

func layoutAttrs(l planner.Layout) map[string]any {
	return map[string]any{
		"ml.parallel.tensor":         l.TP,
		"ml.parallel.pipeline":       l.PP,
		"ml.parallel.data":           l.DP,
		"ml.parallel.context":        l.CP,
		"ml.zero.stage":              l.ZeRO,
		"ml.recompute":               string(l.Recompute),
		"ml.train.micro_batch_size":  l.MicroBatch,
		"ml.parallel.virtual_stages": l.VirtualStages,
	}
}

// planFor is what the planner says about a job (and about its current
// layout, when given), computed here
// independently of the processor's plumbing.
func planFor(t testing.TB, attrs map[string]any, cur planner.Layout) (current, best planner.Evaluation) {
	t.Helper()
	g, ok := planner.GPUPresetForModel(attrs["ml.job.gpu.model"].(string))
	require.True(t, ok)
	m, err := planner.Model{Layers: 24, Hidden: 2048, Heads: 16, Vocab: 51200, SeqLen: 2048, GlobalBatch: 256, Precision: planner.BF16}.Normalize()
	require.NoError(t, err)
	c, err := planner.Cluster{GPU: g, GPUs: 8, GPUsPerNode: 4}.Normalize()
	require.NoError(t, err)
	opts := planner.Options{OverlapGradReduce: true}
	res, err := planner.Plan(m, c, planner.Constraints{MaxMicroBatch: 16}, opts, 1)
	require.NoError(t, err)
	require.NotEmpty(t, res.Layouts)
	if cur.TP > 0 {
		current, err = planner.Evaluate(&m, &c, cur, opts)
		require.NoError(t, err)
	}
	return current, res.Layouts[0]
}

// planOutput is the plan metrics of one job in one batch.
type planOutput struct {
	resource pcommon.Map
	gauges   map[string][]pmetric.NumberDataPoint
}

func (o planOutput) value(t testing.TB, name string) float64 {
	t.Helper()
	dps := o.gauges[name]
	require.Len(t, dps, 1, name)
	return numberValue(dps[0])
}

// plans collects the plan metrics of each job (by ml.job.id) in a batch, and
// the resource-less ones under "".
func plans(md pmetric.Metrics) map[string]planOutput {
	out := map[string]planOutput{}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		sm := rm.ScopeMetrics()
		if sm.Len() == 0 || sm.At(0).Scope().Name() != metadata.ScopeName {
			continue
		}
		id := ""
		if v, ok := rm.Resource().Attributes().Get(attrJobID); ok {
			id = v.Str()
		}
		o := planOutput{resource: rm.Resource().Attributes(), gauges: map[string][]pmetric.NumberDataPoint{}}
		ms := sm.At(0).Metrics()
		for k := 0; k < ms.Len(); k++ {
			dps := ms.At(k).Gauge().DataPoints()
			for d := 0; d < dps.Len(); d++ {
				o.gauges[ms.At(k).Name()] = append(o.gauges[ms.At(k).Name()], dps.At(d))
			}
		}
		out[id] = o
	}
	return out
}

// incomplete reads acceltel.plan.jobs.incomplete by reason.
func incomplete(t testing.TB, md pmetric.Metrics) map[string]int64 {
	t.Helper()
	o, ok := plans(md)[""]
	require.True(t, ok, "no acceltel.plan.jobs.incomplete in the batch")
	got := map[string]int64{}
	for _, dp := range o.gauges["acceltel.plan.jobs.incomplete"] {
		r, _ := dp.Attributes().Get("acceltel.plan.reason")
		got[r.Str()] = dp.IntValue()
	}
	return got
}
