package parallelismprocessor

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/acceltel/acceltel/internal/planner"
	"github.com/acceltel/acceltel/processors/parallelismprocessor/internal/metadata"
)

// llama8B is a typical job: Llama 3 8B on 64 H100s in 8 nodes.
func llama8B(id string, rank int) map[string]any {
	return map[string]any{
		"ml.job.id": id, "service.name": "train", "service.instance.id": fmt.Sprintf("rank-%d", rank),
		"host.name": fmt.Sprintf("node-%d", rank/8), "k8s.namespace.name": "research",
		"ml.model.layers": 32, "ml.model.hidden_size": 4096, "ml.model.attention_heads": 32,
		"ml.model.key_value_heads": 8, "ml.model.ffn_hidden_size": 14336, "ml.model.gated_mlp": true,
		"ml.model.untied_embeddings": true, "ml.model.vocab_size": 128256, "ml.train.flash_attention": true,
		"ml.train.sequence_length": 8192, "ml.train.global_batch_size": 512, "ml.train.micro_batch_size": 1,
		"ml.train.precision": "bf16", "ml.parallel.tensor": 2, "ml.parallel.pipeline": 2, "ml.parallel.data": 16,
		"ml.zero.stage": 1, "ml.recompute": "selective", "ml.job.gpu.count": 64, "ml.job.gpu.model": "NVIDIA H100 80GB HBM3",
	}
}

// gatewayBatch is one batch a gateway sees: a job's ranks reporting their
// step histogram and token counter, the GPUs of a node, and other traffic.
func gatewayBatch(b *testing.B, ranks int) (md pmetric.Metrics, steps []pmetric.HistogramDataPoint, dps int) {
	md = pmetric.NewMetrics()
	for r := range ranks {
		rm := md.ResourceMetrics().AppendEmpty()
		require.NoError(b, rm.Resource().Attributes().FromRaw(llama8B("job-bench", r)))
		ms := rm.ScopeMetrics().AppendEmpty().Metrics()
		m := ms.AppendEmpty()
		m.SetName(metricStepDuration)
		m.SetUnit("s")
		hist := m.SetEmptyHistogram()
		hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := hist.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		dp.ExplicitBounds().FromRaw([]float64{1, 2, 4, 8})
		dp.BucketCounts().FromRaw([]uint64{0, 0, 0, 0, 0})
		steps = append(steps, dp)
		tok := ms.AppendEmpty()
		tok.SetName(metricTokens)
		tok.SetEmptySum().DataPoints().AppendEmpty().SetIntValue(1)
		dps += 2
	}
	hw := hardwareMetrics(t0, "node-0", 81559<<20, map[[2]any]float64{{"allreduce", 1}: 3.5e11, {"allreduce", 8}: 4.5e10}, 5e10, 5e10)
	other := otherMetrics(t0)
	for _, x := range []pmetric.Metrics{hw, other} {
		dps += x.DataPointCount()
		x.ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
	}
	return md, steps, dps
}

// BenchmarkConsume feeds batches of 64 ranks' step metrics with hardware
// and unrelated metrics, one batch a second with a 10 s interval, so one
// batch in ten runs the planning (the search itself is cached after the
// first).
func BenchmarkConsume(b *testing.B) {
	cfg := createDefaultConfig().(*Config)
	cfg.Interval = 10 * time.Second
	set := processortest.NewNopSettings(metadata.Type)
	p := newProcessor(cfg, set)
	clock := t0
	p.now = func() time.Time { return clock }
	proc, err := processorhelper.NewMetrics(context.Background(), set, cfg, consumertest.NewNop(), p.processMetrics,
		processorhelper.WithCapabilities(capabilities))
	require.NoError(b, err)
	md, steps, dps := gatewayBatch(b, 64)
	n := md.ResourceMetrics().Len()
	var count uint64
	var planned int

	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	iters := 0
	for b.Loop() {
		iters++
		clock = clock.Add(time.Second)
		count += 20
		ts := pcommon.NewTimestampFromTime(clock)
		for _, dp := range steps {
			dp.SetTimestamp(ts)
			dp.SetCount(count)
			dp.SetSum(1.7 * float64(count))
		}
		if err := proc.ConsumeMetrics(context.Background(), md); err != nil {
			b.Fatal(err)
		}
		if extra := md.ResourceMetrics().Len() - n; extra > 0 {
			planned++
			i := 0
			md.ResourceMetrics().RemoveIf(func(pmetric.ResourceMetrics) bool { i++; return i > n })
		}
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if planned == 0 && iters > 10 {
		b.Fatal("never planned")
	}
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(iters*dps), "ns/datapoint")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(iters*dps), "allocs/datapoint")
	b.ReportMetric(float64(dps), "datapoints/batch")
}

// BenchmarkPlanJob is one planning run of the typical job: the full layout
// search (as when a job appears or its hardware figures change) and, for
// comparison, an interval that reuses the cached search.
func BenchmarkPlanJob(b *testing.B) {
	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprintf("cached=%v", cached), func(b *testing.B) {
			cfg := createDefaultConfig().(*Config)
			p := newProcessor(cfg, processortest.NewNopSettings(metadata.Type))
			md := pmetric.NewMetrics()
			require.NoError(b, md.ResourceMetrics().AppendEmpty().Resource().Attributes().FromRaw(llama8B("job-bench", 0)))
			p.ingest(md.ResourceMetrics().At(0), t0)
			j := p.jobs["job-bench"]
			require.NotNil(b, j)
			ts := pcommon.NewTimestampFromTime(t0)
			var considered int
			b.ReportAllocs()
			for b.Loop() {
				j.addSteps(1.7, float64(cfg.MinSamples), cfg.StepWindow)
				if !cached {
					j.planKey = planKey{}
				}
				if r := p.planJob(j, t0, ts); r != 0 {
					b.Fatal(r)
				}
				p.mb.Emit()
			}
			if j.best == nil {
				b.Fatal(j.planErr)
			}
			key, _, _, _ := p.inputs(j, t0)
			res, _ := planner.Plan(key.model, key.cluster, planner.Constraints{MaxMicroBatch: key.maxMB}, key.opts, 1)
			considered = res.Considered
			b.ReportMetric(float64(considered), "layouts/search")
		})
	}
}
