package anomalyprocessor

import (
	"context"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

var latencyBounds = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}

// latencyHistogram is one call with one explicit-bucket histogram point of
// an NCCL operation on one GPU.
func latencyHistogram(ts time.Time, temporality pmetric.AggregationTemporality, counts []uint64, sum float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("host.name", "node-0")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("nccl.operation.duration")
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(temporality)
	dp := h.DataPoints().AppendEmpty()
	dp.Attributes().PutStr("hw.id", "GPU-00")
	dp.Attributes().PutStr("nccl.operation", "allreduce")
	dp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
	dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	dp.ExplicitBounds().FromRaw(latencyBounds)
	dp.BucketCounts().FromRaw(counts)
	var n uint64
	for _, c := range counts {
		n += c
	}
	dp.SetCount(n)
	if sum >= 0 {
		dp.SetSum(sum)
	}
	return md
}

// interval draws 1000 latencies: most in (5,10] ms, a tail of tail
// observations in (500,1000].
func interval(rng *rand.Rand, tail int) []uint64 {
	c := make([]uint64, len(latencyBounds)+1)
	for range 1000 - tail {
		c[2+min(rng.IntN(3), rng.IntN(3))]++ // (2,5], (5,10], (10,20]
	}
	c[9] += uint64(tail)
	return c
}

// A histogram is watched on its configured statistic: here p99, which a
// tail of slow operations moves while the bulk of them stays put.
func TestHistogramTailFlagged(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Include = []string{"nccl.operation.duration"}
	cfg.HistogramStatistic = "p99"
	require.NoError(t, cfg.Validate())
	p := findProc(t, cfg)
	rng := rand.New(rand.NewPCG(9, 9))
	var before, after int
	for it := range 340 {
		tail := 0
		if it >= 300 {
			tail = 30
		}
		ts := t0.Add(time.Duration(it) * 10 * time.Second)
		out := consumeAt(t, p, ts, latencyHistogram(ts, pmetric.AggregationTemporalityDelta, interval(rng, tail), -1))
		scores := find(out, metricScore, attrMetric, "nccl.operation.duration")
		require.Len(t, scores, 1, "a score at every histogram point (%d)", it)
		op, _ := scores[0].Attributes().Get("nccl.operation")
		assert.Equal(t, "allreduce", op.Str(), "the point's own attributes")
		assert.Equal(t, pcommon.NewTimestampFromTime(ts), scores[0].Timestamp())
		if flags := find(out, metricFlag, "hw.id", "GPU-00"); len(flags) == 1 && flags[0].IntValue() == 1 {
			if it < 300 {
				before++
			} else if it < 303 {
				after++
			}
		}
	}
	// The engine's false-alarm rate is its own tests' business; a steady
	// distribution must still look steady.
	assert.LessOrEqual(t, before, 15, "flags on a steady distribution (5%)")
	assert.Positive(t, after, "the tail was not flagged within 3 points")
}

// A cumulative histogram yields a value per interval: none for the first
// point and none for a reset, as for cumulative sums.
func TestCumulativeHistogramIntervals(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Include = []string{"nccl.operation.duration"}
	p := findProc(t, cfg)
	rng := rand.New(rand.NewPCG(10, 10))
	acc := make([]uint64, len(latencyBounds)+1)
	var sum float64
	var scores int
	for it := range 100 {
		if it == 50 { // the process restarted: every count starts again
			clear(acc)
			sum = 0
		}
		for i, c := range interval(rng, 0) {
			acc[i] += c
		}
		sum += 7000
		ts := t0.Add(time.Duration(it) * 10 * time.Second)
		out := consumeAt(t, p, ts, latencyHistogram(ts, pmetric.AggregationTemporalityCumulative, acc, sum))
		scores += len(find(out, metricScore, attrMetric, "nccl.operation.duration"))
	}
	assert.Equal(t, 98, scores)
}

func TestExponentialHistogramWatched(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Include = []string{"gpu.kernel.duration"}
	cfg.HistogramStatistic = "p90"
	p := findProc(t, cfg)
	var scores int
	for it := range 20 {
		md := pmetric.NewMetrics()
		m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("gpu.kernel.duration")
		h := m.SetEmptyExponentialHistogram()
		h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := h.DataPoints().AppendEmpty()
		dp.SetScale(2)
		dp.Positive().SetOffset(10)
		dp.Positive().BucketCounts().FromRaw([]uint64{uint64(3 * it), uint64(5 * it)})
		dp.SetCount(uint64(8 * it))
		out := consumeAt(t, p, t0.Add(time.Duration(it)*time.Second), md)
		scores += len(find(out, metricScore, attrMetric, "gpu.kernel.duration"))
	}
	assert.Equal(t, 19, scores, "every interval but the first")
}

// The statistic is the configured one: a histogram without a sum has no
// mean, so it is not scored on the mean, but is on a quantile.
func TestHistogramStatisticConfigured(t *testing.T) {
	for stat, want := range map[string]int{"mean": 0, "p50": 10} {
		cfg := createDefaultConfig().(*Config)
		cfg.Include = []string{"nccl.operation.duration"}
		cfg.HistogramStatistic = stat
		p := findProc(t, cfg)
		var scores int
		for it := range 10 {
			md := latencyHistogram(t0, pmetric.AggregationTemporalityDelta, interval(rand.New(rand.NewPCG(1, uint64(it))), 0), -1)
			scores += len(find(consumeAt(t, p, t0, md), metricScore, attrMetric, "nccl.operation.duration"))
		}
		assert.Equal(t, want, scores, stat)
	}
}

// Histogram points of a metric nobody watches pass through untouched,
// as before histograms were watched.
func TestHistogramUnwatchedPassesThrough(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Include = []string{"hw.gpu.utilization"}
	p, sink := newTestProcessor(t, cfg)
	in := latencyHistogram(t0, pmetric.AggregationTemporalityDelta, interval(rand.New(rand.NewPCG(1, 1)), 0), 1)
	want := pmetric.NewMetrics()
	in.CopyTo(want)
	require.NoError(t, p.ConsumeMetrics(context.Background(), in))
	require.NoError(t, pmetrictest.CompareMetrics(want, sink.AllMetrics()[0]))
}

// BenchmarkHistogramPerPoint is BenchmarkProcessorPerPoint with a histogram
// point per GPU (11 explicit buckets, or 2×8 exponential ones) instead of
// a gauge: flattening, the interval (a difference for cumulative points),
// the statistic and the engine.
func BenchmarkHistogramPerPoint(b *testing.B) {
	const gpus = 64
	for _, c := range []struct {
		name string
		stat string
		kind pmetric.MetricType
		temp pmetric.AggregationTemporality
	}{
		{"explicit-delta-p99", "p99", pmetric.MetricTypeHistogram, pmetric.AggregationTemporalityDelta},
		{"explicit-cumulative-p99", "p99", pmetric.MetricTypeHistogram, pmetric.AggregationTemporalityCumulative},
		{"explicit-cumulative-mean", "mean", pmetric.MetricTypeHistogram, pmetric.AggregationTemporalityCumulative},
		{"exponential-cumulative-p99", "p99", pmetric.MetricTypeExponentialHistogram, pmetric.AggregationTemporalityCumulative},
	} {
		b.Run(c.name, func(b *testing.B) {
			cfg := createDefaultConfig().(*Config)
			cfg.Include = []string{"nccl.operation.duration"}
			cfg.HistogramStatistic = c.stat
			p, _ := newTestProcessor(b, cfg)
			rng := rand.New(rand.NewPCG(1, 2))
			// 256 intervals, so that a cumulative series resets (wraps)
			// once in 256 points.
			batches := make([]pmetric.Metrics, 256)
			acc := make([][]uint64, gpus)
			for i := range batches {
				md := pmetric.NewMetrics()
				for g := range gpus {
					if acc[g] == nil {
						acc[g] = make([]uint64, 16)
					}
					for j, n := range interval(rng, rng.IntN(3)) {
						if c.temp == pmetric.AggregationTemporalityDelta {
							acc[g][j] = 0
						}
						acc[g][j] += n
					}
					appendHistogram(md, g, c.kind, c.temp, acc[g], t0.Add(time.Duration(i)*10*time.Second))
				}
				batches[i] = md
			}
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				md := pmetric.NewMetrics()
				batches[i%len(batches)].CopyTo(md)
				require.NoError(b, p.ConsumeMetrics(context.Background(), md))
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*gpus), "ns/point")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*gpus), "allocs/point")
		})
	}
}

// appendHistogram adds GPU g's resource with one histogram point of counts:
// the first 11 as explicit buckets, or 8 positive and 8 negative
// exponential buckets.
func appendHistogram(md pmetric.Metrics, g int, kind pmetric.MetricType, temp pmetric.AggregationTemporality, counts []uint64, ts time.Time) {
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("host.name", "node-"+strconv.Itoa(g/8))
	rm.Resource().Attributes().PutStr("hw.id", "GPU-"+strconv.Itoa(g))
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("nccl.operation.duration")
	if kind == pmetric.MetricTypeHistogram {
		h := m.SetEmptyHistogram()
		h.SetAggregationTemporality(temp)
		dp := h.DataPoints().AppendEmpty()
		dp.Attributes().PutStr("nccl.operation", "allreduce")
		dp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		dp.ExplicitBounds().FromRaw(latencyBounds)
		dp.BucketCounts().FromRaw(counts[:len(latencyBounds)+1])
		var n uint64
		for _, c := range counts[:len(latencyBounds)+1] {
			n += c
		}
		dp.SetCount(n)
		dp.SetSum(float64(n) * 7)
		return
	}
	h := m.SetEmptyExponentialHistogram()
	h.SetAggregationTemporality(temp)
	dp := h.DataPoints().AppendEmpty()
	dp.Attributes().PutStr("nccl.operation", "allreduce")
	dp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
	dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	dp.SetScale(3)
	dp.Positive().SetOffset(20)
	dp.Positive().BucketCounts().FromRaw(counts[:8])
	dp.Negative().SetOffset(-4)
	dp.Negative().BucketCounts().FromRaw(counts[8:])
	var n uint64
	for _, c := range counts {
		n += c
	}
	dp.SetCount(n)
	dp.SetSum(float64(n) * 7)
}
