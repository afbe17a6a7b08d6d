package anomalyconnector

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/acceltel/acceltel/connectors/anomalyconnector/internal/metadata"
	"github.com/acceltel/acceltel/internal/anomalyconfig"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newTestConnector(t *testing.T, mutate func(*Config)) (*anomalyConnector, *consumertest.LogsSink) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	mutate(cfg)
	require.NoError(t, cfg.Validate())
	sink := new(consumertest.LogsSink)
	c, err := NewFactory().CreateMetricsToLogs(context.Background(), connectortest.NewNopSettings(metadata.Type), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background(), nil))
	t.Cleanup(func() { require.NoError(t, c.Shutdown(context.Background())) })
	ac := c.(*anomalyConnector)
	ac.now = func() time.Time { return t0 }
	return ac, sink
}

// gaugeBatch is one interval: a gauge point per value, each its own resource with hw.id.
func gaugeBatch(name string, i int, values map[string]float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for id, v := range values {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("host.name", "node-1")
		rm.Resource().Attributes().PutStr("hw.model", "H100")
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName(name)
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.Attributes().PutStr("hw.id", id)
		dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * 10 * time.Second)))
		dp.SetDoubleValue(v)
	}
	return md
}

type record struct {
	res pcommon.Map
	lr  plog.LogRecord
}

func records(sink *consumertest.LogsSink) []record {
	var out []record
	for _, ld := range sink.AllLogs() {
		for i := 0; i < ld.ResourceLogs().Len(); i++ {
			rl := ld.ResourceLogs().At(i)
			for j := 0; j < rl.ScopeLogs().Len(); j++ {
				sl := rl.ScopeLogs().At(j)
				for k := 0; k < sl.LogRecords().Len(); k++ {
					out = append(out, record{rl.Resource().Attributes(), sl.LogRecords().At(k)})
				}
			}
		}
	}
	return out
}

func attr(t *testing.T, lr plog.LogRecord, k string) pcommon.Value {
	t.Helper()
	v, ok := lr.Attributes().Get(k)
	require.True(t, ok, "attribute %s missing from %v", k, lr.Attributes().AsRaw())
	return v
}

func TestSeriesStartAndClear(t *testing.T) {
	c, sink := newTestConnector(t, func(cfg *Config) { cfg.Include = []string{"hw.gpu.utilization"} })
	rng := rand.New(rand.NewPCG(1, 2))
	const spikeAt, spikeLen, n = 400, 4, 500
	for i := range n {
		v := 80 + 5*math.Sin(float64(i)/10) + rng.NormFloat64()
		if i >= spikeAt && i < spikeAt+spikeLen {
			v = 5 // utilisation collapses
		}
		require.NoError(t, c.ConsumeMetrics(context.Background(), gaugeBatch("hw.gpu.utilization", i, map[string]float64{"GPU-0": v})))
		if i == spikeAt-1 {
			require.Empty(t, records(sink), "no anomaly before the spike")
		}
	}
	recs := records(sink)
	require.Len(t, recs, 2, "one start, one clear")
	start, end := recs[0].lr, recs[1].lr
	assert.Equal(t, "acceltel.anomaly.start", start.EventName())
	assert.Equal(t, plog.SeverityNumberWarn, start.SeverityNumber())
	assert.Equal(t, "WARN", start.SeverityText())
	assert.Equal(t, eventStart, attr(t, start, attrEvent).Str())
	assert.Equal(t, "ensemble", attr(t, start, attrDetector).Str())
	assert.Equal(t, "hw.gpu.utilization", attr(t, start, attrMetric).Str())
	assert.Equal(t, "hw.gpu.utilization{hw.id=GPU-0}", attr(t, start, attrSeries).Str())
	assert.Equal(t, "GPU-0", attr(t, start, "hw.id").Str())
	assert.GreaterOrEqual(t, attr(t, start, attrScore).Double(), 0.5)
	assert.Equal(t, 5.0, attr(t, start, attrValue).Double())
	assert.Equal(t, pcommon.NewTimestampFromTime(t0.Add(spikeAt*10*time.Second)), start.Timestamp())
	assert.Equal(t, pcommon.NewTimestampFromTime(t0), start.ObservedTimestamp())
	assert.Contains(t, start.Body().Str(), "anomaly started on hw.gpu.utilization{hw.id=GPU-0}")
	host, _ := recs[0].res.Get("host.name")
	assert.Equal(t, "node-1", host.Str(), "the series' resource")

	assert.Equal(t, "acceltel.anomaly.clear", end.EventName())
	assert.Equal(t, plog.SeverityNumberInfo, end.SeverityNumber())
	assert.Equal(t, eventClear, attr(t, end, attrEvent).Str())
	assert.Less(t, attr(t, end, attrScore).Double(), 0.5)
	assert.GreaterOrEqual(t, attr(t, end, attrPeakScore).Double(), attr(t, start, attrScore).Double())
	assert.GreaterOrEqual(t, attr(t, end, attrPoints).Int(), int64(1+5), "the start and clear_after quiet points")
	assert.Greater(t, end.Timestamp(), start.Timestamp())
	assert.Contains(t, end.Body().Str(), "anomaly cleared on hw.gpu.utilization{hw.id=GPU-0}")
}

func TestTransitionHysteresis(t *testing.T) {
	c := &anomalyConnector{cfg: &Config{Watch: anomalyconfig.Watch{ScoreThreshold: 0.5}, ClearAfter: 3}}
	s := &series{}
	var evs []string
	for _, sc := range []float64{0.1, 0.7, 0.2, 0.2, 0.9, 0.1, 0.1, 0.1, 0.2, 0.6} {
		evs = append(evs, c.transition(s, sc))
	}
	assert.Equal(t, []string{"", eventStart, "", "", "", "", "", eventClear, "", eventStart}, evs)
}

func TestPeerStragglerStartAndClear(t *testing.T) {
	c, sink := newTestConnector(t, func(cfg *Config) {
		cfg.PeerGroups = []PeerGroupConfig{{Metric: "nvidia.gpu.clock.sm", GroupBy: []string{"hw.model"}, Member: []string{"hw.id"},
			Direction: "both", Threshold: 3.5, MinRelative: 0.05, K: 3, N: 5, MinMembers: 4}}
	})
	rng := rand.New(rand.NewPCG(3, 4))
	const gpus, throttleFrom, throttleTo, n = 64, 100, 200, 300
	ids := make([]string, gpus)
	for g := range ids {
		ids[g] = "GPU-" + string(rune('A'+g/26)) + string(rune('a'+g%26))
	}
	var startAt, clearAt int
	for i := range n {
		vals := map[string]float64{}
		for g, id := range ids {
			v := 1980 * (1 + 0.005*rng.NormFloat64())
			if g == 7 && i >= throttleFrom && i < throttleTo {
				v *= 0.85
			}
			vals[id] = v
		}
		require.NoError(t, c.ConsumeMetrics(context.Background(), gaugeBatch("nvidia.gpu.clock.sm", i, vals)))
		got := len(records(sink))
		if got == 1 && startAt == 0 {
			startAt = i
		}
		if got == 2 && clearAt == 0 {
			clearAt = i
		}
	}
	recs := records(sink)
	require.Len(t, recs, 2, "one straggler start, one clear, nothing for the 63 healthy GPUs")
	assert.LessOrEqual(t, startAt-throttleFrom, 3, "flagged within 3 intervals")
	assert.Greater(t, clearAt, throttleTo-1)
	start, end := recs[0].lr, recs[1].lr
	assert.Equal(t, 0, recs[0].res.Len(), "peer records carry their attributes on the record")
	assert.Equal(t, "peer", attr(t, start, attrDetector).Str())
	assert.Equal(t, ids[7], attr(t, start, "hw.id").Str())
	assert.Equal(t, "H100", attr(t, start, "hw.model").Str())
	assert.Equal(t, "hw.model=H100", attr(t, start, attrGroup).Str())
	assert.Equal(t, "nvidia.gpu.clock.sm{hw.model=H100,hw.id="+ids[7]+"}", attr(t, start, attrSeries).Str())
	assert.InDelta(t, 1980, attr(t, start, attrMedian).Double(), 20)
	assert.InDelta(t, 1980*0.85, attr(t, start, attrValue).Double(), 30)
	assert.Less(t, attr(t, start, attrZ).Double(), -3.5)
	assert.Greater(t, attr(t, start, attrScore).Double(), 0.5)
	assert.Equal(t, int64(gpus), attr(t, start, attrGroupSize).Int())
	assert.Equal(t, plog.SeverityNumberWarn, start.SeverityNumber())
	assert.Contains(t, start.Body().Str(), "straggler started")
	assert.Contains(t, start.Body().Str(), "off its group's median")
	assert.Equal(t, eventClear, attr(t, end, attrEvent).Str())
	assert.Equal(t, plog.SeverityNumberInfo, end.SeverityNumber())
	assert.Greater(t, attr(t, end, attrPeakScore).Double(), 0.5)
}

func TestHealthyFleetIsQuiet(t *testing.T) {
	c, sink := newTestConnector(t, func(cfg *Config) {
		cfg.Include = []string{"nvidia.gpu.*"}
		cfg.PeerGroups = []PeerGroupConfig{{Metric: "nvidia.gpu.clock.sm", GroupBy: []string{"hw.model"}, Member: []string{"hw.id"},
			Direction: "both", Threshold: 3.5, MinRelative: 0.05, K: 3, N: 5, MinMembers: 4}}
	})
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 2000 {
		vals := map[string]float64{}
		for g := range 16 {
			vals[string(rune('a'+g))] = 1980 * (1 + 0.005*rng.NormFloat64())
		}
		require.NoError(t, c.ConsumeMetrics(context.Background(), gaugeBatch("nvidia.gpu.clock.sm", i, vals)))
	}
	for _, r := range records(sink) {
		assert.NotEqual(t, "peer", attr(t, r.lr, attrDetector).Str(), "no straggler in a healthy fleet")
	}
}

func TestCumulativeRateAndCap(t *testing.T) {
	c, sink := newTestConnector(t, func(cfg *Config) {
		cfg.Include = []string{"nccl.bytes"}
		cfg.MaxSeries = 1
	})
	rng := rand.New(rand.NewPCG(7, 8))
	var total float64
	for i := range 400 {
		rate := 1e9 * (1 + 0.02*rng.NormFloat64())
		if i == 350 {
			rate = 1e7 // a stalled collective
		}
		total += rate * 10
		md := pmetric.NewMetrics()
		m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("nccl.bytes")
		sum := m.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		for _, rank := range []string{"0", "1"} { // rank 1 is over the cap
			dp := sum.DataPoints().AppendEmpty()
			dp.Attributes().PutStr("rank", rank)
			dp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
			dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i+1) * 10 * time.Second)))
			dp.SetDoubleValue(total)
		}
		require.NoError(t, c.ConsumeMetrics(context.Background(), md))
	}
	recs := records(sink)
	require.NotEmpty(t, recs)
	start := recs[0].lr
	assert.Equal(t, "0", attr(t, start, "rank").Str())
	assert.InDelta(t, 1e7, attr(t, start, attrValue).Double(), 1, "the rate is watched, not the counter")
	assert.Equal(t, 1, len(c.series))
	assert.Equal(t, int64(400), c.dropped)
}

// expire walks every series at most once per eighth of state_ttl: a gateway
// calls once per Kafka record, and a walk per call grows with the square of
// the fleet. A series is forgotten between 1 and 1.125 state_ttl unseen.
func TestExpireSweepsEveryEighthOfTTL(t *testing.T) {
	c, _ := newTestConnector(t, func(cfg *Config) {
		cfg.Include = []string{"hw.gpu.utilization"}
		cfg.StateTTL = 8 * time.Minute
	})
	c.series = map[string]*series{"a": {seen: t0}, "b": {seen: t0.Add(7*time.Minute + 30*time.Second)}}
	c.expire(t0.Add(7*time.Minute + 30*time.Second)) // swept: both within the TTL
	require.Len(t, c.series, 2)
	c.expire(t0.Add(8*time.Minute + 10*time.Second)) // a is past its TTL, but the last sweep was 40 s ago
	assert.Len(t, c.series, 2)
	c.expire(t0.Add(8*time.Minute + 31*time.Second)) // 61 s after the last sweep: a goes, b stays
	assert.Len(t, c.series, 1)
	assert.Contains(t, c.series, "b")
}
