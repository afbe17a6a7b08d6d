package anomalyprocessor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/acceltel/acceltel/processors/anomalyprocessor/internal/metadata"
	"github.com/acceltel/acceltel/processors/anomalyprocessor/internal/metadatatest"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newTestProcessor(t testing.TB, cfg *Config) (processor.Metrics, *consumertest.MetricsSink) {
	t.Helper()
	sink := new(consumertest.MetricsSink)
	p, err := createMetrics(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	return p, sink
}

// gpuBatch builds one interval: one resource per GPU with a gauge of the given values.
func gpuBatch(metric string, ts time.Time, values []float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for i, v := range values {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("host.name", fmt.Sprintf("node-%d", i/8))
		rm.Resource().Attributes().PutStr("hw.model", "NVIDIA H100 80GB HBM3")
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("nvml")
		m := sm.Metrics().AppendEmpty()
		m.SetName(metric)
		m.SetUnit("Hz")
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.Attributes().PutStr("hw.id", fmt.Sprintf("GPU-%02d", i))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		dp.SetDoubleValue(v)
	}
	return md
}

// stripOurs removes what the processor added, leaving what it was given.
func stripOurs(md pmetric.Metrics) pmetric.Metrics {
	out := pmetric.NewMetrics()
	md.CopyTo(out)
	out.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool { return sm.Scope().Name() == metadata.ScopeName })
		return rm.ScopeMetrics().Len() == 0
	})
	return out
}

// find returns the data points of metric name whose attribute key equals val.
func find(md pmetric.Metrics, name, key, val string) []pmetric.NumberDataPoint {
	var out []pmetric.NumberDataPoint
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Name() != name || m.Type() != pmetric.MetricTypeGauge {
					continue
				}
				for _, dp := range m.Gauge().DataPoints().All() {
					if v, ok := dp.Attributes().Get(key); ok && v.AsString() == val {
						out = append(out, dp)
					}
				}
			}
		}
	}
	return out
}

func TestPassThroughUnchanged(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Include = []string{"nvidia.gpu.*"}
	cfg.PeerGroups = []PeerGroupConfig{{Metric: "nvidia.gpu.clock.sm", GroupBy: []string{"hw.model"}, Member: []string{"hw.id"}, Direction: "both", Threshold: 3.5, MinRelative: 0.05, K: 3, N: 5, MinMembers: 4}}
	p, sink := newTestProcessor(t, cfg)
	rng := rand.New(rand.NewPCG(1, 1))
	for it := 0; it < 50; it++ {
		vals := make([]float64, 8)
		for i := range vals {
			vals[i] = 1.41e9 * (1 + 0.01*rng.NormFloat64())
		}
		in := gpuBatch("nvidia.gpu.clock.sm", t0.Add(time.Duration(it)*10*time.Second), vals)
		// A metric nobody watches, of another type, rides along.
		s := in.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().AppendEmpty()
		s.SetName("hw.energy")
		s.SetEmptySum().DataPoints().AppendEmpty().SetDoubleValue(float64(it))
		want := pmetric.NewMetrics()
		in.CopyTo(want)
		require.NoError(t, p.ConsumeMetrics(context.Background(), in))
		got := sink.AllMetrics()[it]
		require.NoError(t, pmetrictest.CompareMetrics(want, stripOurs(got)))
		assert.Len(t, find(got, metricScore, "hw.id", "GPU-03"), 1)
		assert.Len(t, find(got, metricStraggler, "hw.id", "GPU-03"), 1)
	}
}

func TestStepChangeFlagged(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Include = []string{"hw.gpu.utilization"}
	p, sink := newTestProcessor(t, cfg)
	rng := rand.New(rand.NewPCG(2, 2))
	var flaggedBefore, flaggedAfter int
	last := int64(-1) // the latest flag value seen; -1 before any
	for it := 0; it < 600; it++ {
		v := 0.9 + 0.01*rng.NormFloat64()
		if it >= 500 {
			v = 0.3 + 0.01*rng.NormFloat64() // the job stalls
		}
		require.NoError(t, p.ConsumeMetrics(context.Background(), gpuBatch("hw.gpu.utilization", t0.Add(time.Duration(it)*time.Second), []float64{v})))
		got := sink.AllMetrics()[it]
		require.Len(t, find(got, metricScore, "hw.id", "GPU-00"), 1, "a score at every point")
		score := find(got, metricScore, "hw.id", "GPU-00")[0].DoubleValue()
		flags := find(got, metricFlag, "hw.id", "GPU-00")
		// Sparse: a 1 at every anomalous point, one 0 when it clears,
		// nothing while the series is healthy.
		switch {
		case score >= cfg.ScoreThreshold:
			require.Len(t, flags, 1, "flag while anomalous at %d", it)
			require.EqualValues(t, 1, flags[0].IntValue())
		case last == 1:
			require.Len(t, flags, 1, "the 0 that clears the flag at %d", it)
			require.EqualValues(t, 0, flags[0].IntValue())
		default:
			require.Empty(t, flags, "no flag on a healthy point at %d", it)
		}
		if len(flags) == 1 {
			last = flags[0].IntValue()
		}
		if last == 1 {
			if it < 500 {
				flaggedBefore++
			} else if it < 503 {
				flaggedAfter++
			}
		}
	}
	assert.LessOrEqual(t, flaggedBefore, 1, "flags on a steady series")
	assert.Positive(t, flaggedAfter, "the step from 0.9 to 0.3 was not flagged within 3 points")
}

func TestStragglerInGroupOfEight(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.PeerGroups = []PeerGroupConfig{{Metric: "nccl.step.duration", GroupBy: []string{"hw.model"}, Member: []string{"hw.id"},
		Direction: "high", Threshold: 3.5, MinRelative: 0.05, K: 3, N: 5, MinMembers: 4}}
	p, sink := newTestProcessor(t, cfg)
	rng := rand.New(rand.NewPCG(3, 3))
	flagAt := func(it int) (slow, others int64) {
		for _, dp := range find(sink.AllMetrics()[it], metricStraggler, attrDetector, "peer") {
			id, _ := dp.Attributes().Get("hw.id")
			if id.Str() == "GPU-05" {
				slow = dp.IntValue()
			} else {
				others += dp.IntValue()
			}
		}
		return slow, others
	}
	step := func(it int, slowFactor float64) {
		vals := make([]float64, 8)
		for i := range vals {
			vals[i] = 0.5 * (1 + 0.01*rng.NormFloat64())
		}
		vals[5] *= slowFactor
		require.NoError(t, p.ConsumeMetrics(context.Background(), gpuBatch("nccl.step.duration", t0.Add(time.Duration(it)*time.Second), vals)))
	}
	it := 0
	for ; it < 10; it++ {
		step(it, 1)
	}
	step(it, 1.5) // one noisy interval
	slow, others := flagAt(it)
	assert.Zero(t, slow, "flagged after one slow interval")
	assert.Zero(t, others)
	it++
	for ; it < 20; it++ {
		step(it, 1)
	}
	for k := 1; k <= 3; k++ {
		step(it, 1.3)
		slow, others = flagAt(it)
		assert.Equal(t, k == 3, slow == 1, "interval %d of the slowdown", k)
		assert.Zero(t, others)
		it++
	}
	g := find(sink.AllMetrics()[it-1], metricStraggler, "hw.id", "GPU-05")[0]
	m, _ := g.Attributes().Get(attrMetric)
	model, _ := g.Attributes().Get("hw.model")
	assert.Equal(t, "nccl.step.duration", m.Str())
	assert.Equal(t, "NVIDIA H100 80GB HBM3", model.Str())
}

// TestPeerGroupsPerNodeRecord: a gateway gets one node per call (a Kafka
// record) and holds the peer groups of every node. Each call closes the
// interval of its own node's groups only: it carries straggler points for
// that node's GPUs and no other, and a slow GPU is flagged after k of its
// node's intervals, whatever the other nodes' calls in between.
func TestPeerGroupsPerNodeRecord(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.PeerGroups = []PeerGroupConfig{{Metric: "nvidia.gpu.clock.sm", GroupBy: []string{"host.name", "hw.model"}, Member: []string{"hw.id"},
		Direction: "low", Threshold: 3.5, MinRelative: 0.05, K: 3, N: 5, MinMembers: 4}}
	proc := findProc(t, cfg)
	rng := rand.New(rand.NewPCG(4, 4))
	node := func(host string, it int) pmetric.Metrics {
		vals := make([]float64, 16)
		for i := range vals {
			vals[i] = 1.98e9 * (1 + 0.005*rng.NormFloat64())
		}
		vals[13] = 1.41e9 // GPU-13, on node-1
		md := gpuBatch("nvidia.gpu.clock.sm", t0.Add(time.Duration(it)*10*time.Second), vals)
		md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
			h, _ := rm.Resource().Attributes().Get("host.name")
			return h.Str() != host
		})
		return md
	}
	for it := range 4 {
		for _, host := range []string{"node-0", "node-1"} {
			got, err := proc.processMetrics(context.Background(), node(host, it))
			require.NoError(t, err)
			for _, ps := range proc.peers {
				assert.Empty(t, ps.touched, "the groups of a call are forgotten once closed")
			}
			verdicts := find(got, metricStraggler, attrDetector, "peer")
			require.Len(t, verdicts, 8, "%s, interval %d: one verdict per GPU of the node", host, it)
			for _, v := range verdicts {
				h, _ := v.Attributes().Get("host.name")
				assert.Equal(t, host, h.Str())
				id, _ := v.Attributes().Get("hw.id")
				assert.Equal(t, id.Str() == "GPU-13" && it >= 2, v.IntValue() == 1, "%s %s, interval %d", host, id.Str(), it)
			}
		}
	}
}

// telemetryOf is each test processor's own telemetry (series dropped and
// evicted).
var telemetryOf = map[*anomalyProcessor]*componenttest.Telemetry{}

func findProc(t *testing.T, cfg *Config) *anomalyProcessor {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	p, err := newProcessor(metadatatest.NewSettings(tel), cfg)
	require.NoError(t, err)
	telemetryOf[p] = tel
	return p
}

func TestCumulativeSumWatchedAsRate(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Include = []string{"hw.gpu.io"}
	proc := findProc(t, cfg)
	var total float64
	var scores int
	for it := 0; it < 300; it++ {
		md := pmetric.NewMetrics()
		m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("hw.gpu.io")
		s := m.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		total += 1e9 // a steady 1 GB/s
		if it == 150 {
			total = 0 // counter reset: not an anomaly, not a point
		}
		dp := s.DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(it) * time.Second)))
		dp.SetDoubleValue(total)
		out, err := proc.processMetrics(context.Background(), md)
		require.NoError(t, err)
		assert.Empty(t, find(out, metricFlag, attrMetric, "hw.gpu.io"), "constant rate flagged at %d", it)
		scores += len(find(out, metricScore, attrMetric, "hw.gpu.io"))
	}
	assert.Equal(t, 298, scores, "first point and the reset give no rate")
}

func BenchmarkProcessorPerPoint(b *testing.B) {
	cfg := createDefaultConfig().(*Config)
	cfg.Include = []string{"nvidia.gpu.*"}
	proc, err := createMetrics(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(b, err)
	const gpus = 64
	batches := make([]pmetric.Metrics, 16)
	for i := range batches {
		vals := make([]float64, gpus)
		for j := range vals {
			vals[j] = 1.41e9 + float64((i*7+j)%13)*1e6
		}
		batches[i] = gpuBatch("nvidia.gpu.clock.sm", t0.Add(time.Duration(i)*time.Second), vals)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		md := pmetric.NewMetrics()
		batches[i%16].CopyTo(md)
		require.NoError(b, proc.ConsumeMetrics(context.Background(), md))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*gpus), "ns/point")
}

// events returns acceltel.anomaly.events by metric, detector and hw.id:
// each watched series (and each peer member) counts its own.
func events(md pmetric.Metrics) map[string]int64 {
	out := map[string]int64{}
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Name() != metricEvents {
					continue
				}
				for _, dp := range m.Sum().DataPoints().All() {
					mv, _ := dp.Attributes().Get(attrMetric)
					dv, _ := dp.Attributes().Get(attrDetector)
					id, _ := dp.Attributes().Get("hw.id")
					out[mv.Str()+"/"+dv.Str()+"/"+id.Str()] = dp.IntValue()
				}
			}
		}
	}
	return out
}

// Each anomaly start is one event: a series' score crossing the threshold
// upwards, a member becoming a straggler; staying anomalous is not another.
func TestEventsCountStarts(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Include = []string{"hw.gpu.utilization"}
	cfg.PeerGroups = []PeerGroupConfig{{Metric: "hw.gpu.utilization", GroupBy: []string{"hw.model"}, Member: []string{"hw.id"},
		Direction: "low", Threshold: 3.5, MinRelative: 0.05, K: 3, N: 5, MinMembers: 4}}
	p, sink := newTestProcessor(t, cfg)
	rng := rand.New(rand.NewPCG(4, 4))
	starts := map[string]int64{}
	flagged := map[string]bool{}
	for it := 0; it < 600; it++ {
		vals := make([]float64, 8)
		for i := range vals {
			vals[i] = 0.9 + 0.01*rng.NormFloat64()
		}
		if it >= 500 {
			vals[3] = 0.3 + 0.01*rng.NormFloat64() // GPU-03 stalls for good
		}
		require.NoError(t, p.ConsumeMetrics(context.Background(), gpuBatch("hw.gpu.utilization", t0.Add(time.Duration(it)*time.Second), vals)))
		for _, dp := range find(sink.AllMetrics()[it], metricFlag, attrDetector, "ensemble") {
			on := dp.IntValue() == 1
			id, _ := dp.Attributes().Get("hw.id")
			if on && !flagged[id.Str()] {
				starts[id.Str()]++ // a false alarm elsewhere is an event too
			}
			flagged[id.Str()] = on
		}
	}
	got := events(sink.AllMetrics()[599])
	for id, n := range starts {
		assert.Equal(t, n, got["hw.gpu.utilization/ensemble/"+id], "one event per start of an anomaly on %s", id)
	}
	assert.Positive(t, starts["GPU-03"])
	assert.Equal(t, int64(1), got["hw.gpu.utilization/peer/GPU-03"], "GPU-03 became a straggler once and stayed one")
	for k := range got {
		assert.True(t, strings.HasSuffix(k, "/GPU-03") || starts[k[strings.LastIndex(k, "/")+1:]] > 0, "%s counts without an event", k)
	}
}

// match_attributes narrows the watched points: here the general-purpose
// utilization of a GPU, not its encoder's.
func TestMatchAttributes(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Include = []string{"hw.gpu.utilization"}
	cfg.MatchAttributes = map[string]string{"hw.gpu.task": "general", "host.name": "node-0"}
	p, sink := newTestProcessor(t, cfg)
	md := pmetric.NewMetrics()
	for _, host := range []string{"node-0", "node-1"} {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("host.name", host)
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("hw.gpu.utilization")
		dps := m.SetEmptyGauge().DataPoints()
		for _, task := range []string{"general", "encoder"} {
			dp := dps.AppendEmpty()
			dp.Attributes().PutStr("hw.gpu.task", task)
			dp.SetTimestamp(pcommon.NewTimestampFromTime(t0))
			dp.SetDoubleValue(0.5)
		}
	}
	require.NoError(t, p.ConsumeMetrics(context.Background(), md))
	scores := find(sink.AllMetrics()[0], metricScore, attrMetric, "hw.gpu.utilization")
	require.Len(t, scores, 1, "only node-0's general utilization is watched")
	task, _ := scores[0].Attributes().Get("hw.gpu.task")
	assert.Equal(t, "general", task.Str())
}
