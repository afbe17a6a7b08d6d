package anomalyprocessor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// counterValue is the processor's telemetry counter name, 0 before it
// has counted anything.
func counterValue(t *testing.T, p *anomalyProcessor, name string) int64 {
	t.Helper()
	m, err := telemetryOf[p].GetMetric(name)
	if err != nil {
		return 0
	}
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		n += dp.Value
	}
	return n
}

const (
	metricDropped = "acceltel.anomaly.series.dropped"
	metricEvicted = "acceltel.anomaly.series.evicted"
)

// seriesPoints is one call: a utilization gauge point per "node/gpu" name,
// one resource per node, in the order given.
func seriesPoints(ts time.Time, names ...string) pmetric.Metrics {
	md := pmetric.NewMetrics()
	nodes := map[string]pmetric.NumberDataPointSlice{}
	for _, n := range names {
		node, gpu, _ := strings.Cut(n, "/")
		dps, ok := nodes[node]
		if !ok {
			rm := md.ResourceMetrics().AppendEmpty()
			rm.Resource().Attributes().PutStr("host.name", node)
			m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
			m.SetName("hw.gpu.utilization")
			dps = m.SetEmptyGauge().DataPoints()
			nodes[node] = dps
		}
		dp := dps.AppendEmpty()
		dp.Attributes().PutStr("hw.id", gpu)
		dp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		dp.SetDoubleValue(0.5)
	}
	return md
}

// watched lists the series with state, as "node/gpu", most recently seen first.
func watched(t *testing.T, p *anomalyProcessor) []string {
	t.Helper()
	checkState(t, p)
	out := []string{}
	for s := p.newest; s != nil; s = s.older {
		h, _ := strings.CutPrefix(s.rs.key, "host.name=")
		_, gpu, _ := strings.Cut(s.key, "hw.id=")
		out = append(out, strings.TrimSuffix(h, "\x01")+"/"+strings.TrimSuffix(gpu, "\x01"))
	}
	return out
}

// checkState: the recency list, the per-resource maps and nSeries agree,
// and no resource is kept without series.
func checkState(t *testing.T, p *anomalyProcessor) {
	t.Helper()
	var n int
	var prev *series
	for s := p.newest; s != nil; s = s.older {
		require.Same(t, prev, s.newer, "back link")
		require.Same(t, s, s.rs.series[s.key], "a listed series is in its resource's map")
		require.Same(t, s.rs, p.resources[s.rs.key], "a listed series' resource is kept")
		prev = s
		n++
		require.LessOrEqual(t, n, p.nSeries, "list longer than nSeries (a cycle?)")
	}
	require.Same(t, prev, p.oldest)
	require.Equal(t, p.nSeries, n)
	inMaps := 0
	for _, rs := range p.resources {
		require.NotEmpty(t, rs.series, "a resource without series is forgotten")
		inMaps += len(rs.series)
	}
	require.Equal(t, n, inMaps)
}

func consumeAt(t *testing.T, p *anomalyProcessor, at time.Time, md pmetric.Metrics) pmetric.Metrics {
	t.Helper()
	p.now = func() time.Time { return at }
	out, err := p.processMetrics(context.Background(), md)
	require.NoError(t, err)
	return out
}

// At max_series a new series evicts the least recently seen one, so the
// newest series are always watched, and each eviction is counted.
func TestSeriesCapEvictsLeastRecentlySeen(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Include = []string{"hw.gpu.utilization"}
	cfg.MaxSeries = 3
	p := findProc(t, cfg)
	consumeAt(t, p, t0, seriesPoints(t0, "n0/a", "n0/b", "n1/c"))
	assert.Equal(t, []string{"n1/c", "n0/b", "n0/a"}, watched(t, p))
	consumeAt(t, p, t0.Add(time.Second), seriesPoints(t0, "n0/a")) // a is seen again: b is now the oldest
	out := consumeAt(t, p, t0.Add(2*time.Second), seriesPoints(t0, "n2/d"))
	assert.Equal(t, []string{"n2/d", "n0/a", "n1/c"}, watched(t, p))
	assert.Len(t, find(out, metricScore, "hw.id", "d"), 1, "the new series is watched at once")
	assert.EqualValues(t, 1, counterValue(t, p, metricEvicted))
	assert.Zero(t, counterValue(t, p, metricDropped), "nothing is refused")

	// e evicts c, n1's only series, and n1 goes with it; f evicts a.
	consumeAt(t, p, t0.Add(3*time.Second), seriesPoints(t0, "n3/e", "n3/f"))
	assert.Equal(t, []string{"n3/f", "n3/e", "n2/d"}, watched(t, p))
	assert.EqualValues(t, 3, counterValue(t, p, metricEvicted), "cumulative")
	assert.NotContains(t, p.resources, "host.name=n1\x01")
}

// A resource whose last series is evicted by that resource's own next
// series must stay reachable for it.
func TestEvictionEmptiesTheResourceInUse(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Include = []string{"hw.gpu.utilization"}
	cfg.MaxSeries = 1
	p := findProc(t, cfg)
	for i := range 3 {
		out := consumeAt(t, p, t0.Add(time.Duration(i)*time.Second), seriesPoints(t0, "n0/a", "n0/b"))
		assert.Equal(t, []string{"n0/b"}, watched(t, p))
		assert.EqualValues(t, 2*i+1, counterValue(t, p, metricEvicted))
		assert.Len(t, find(out, metricScore, "hw.id", "a"), 1)
		assert.Len(t, find(out, metricScore, "hw.id", "b"), 1)
	}
}

// max_series_policy refuse keeps the older series and counts the points
// of the new ones it does not watch.
func TestSeriesCapRefuses(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Include = []string{"hw.gpu.utilization"}
	cfg.MaxSeries = 3
	cfg.MaxSeriesPolicy = policyRefuse
	p := findProc(t, cfg)
	out := consumeAt(t, p, t0, gpuBatch("hw.gpu.utilization", t0, []float64{1, 2, 3, 4, 5}))
	var scored int
	for i := 0; i < 5; i++ {
		scored += len(find(out, metricScore, "hw.id", fmt.Sprintf("GPU-%02d", i)))
	}
	assert.Equal(t, 3, scored)
	assert.EqualValues(t, 2, counterValue(t, p, metricDropped))
	assert.Zero(t, counterValue(t, p, metricEvicted))

	// Ten GPUs on two nodes (resources): node-1's GPUs are all over the cap
	// and its resource takes no state either.
	proc := findProc(t, cfg)
	consumeAt(t, proc, t0, gpuBatch("hw.gpu.utilization", t0, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}))
	require.Equal(t, 3, proc.nSeries)
	require.Len(t, proc.resources, 1)
	checkState(t, proc)
}

// Series are forgotten at the first call after state_ttl unseen (from the
// back of the recency list, every call); peer groups by the sweep that
// runs once per state_ttl/8.
func TestExpire(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Include = []string{"hw.gpu.utilization"}
	cfg.StateTTL = 8 * time.Minute
	cfg.PeerGroups = []PeerGroupConfig{{Metric: "nvidia.gpu.clock.sm", GroupBy: []string{"host.name"}, Member: []string{"hw.id"},
		Direction: "both", Threshold: 3.5, MinRelative: 0.05, K: 3, N: 5, MinMembers: 4}}
	p := findProc(t, cfg)
	consumeAt(t, p, t0, seriesPoints(t0, "n0/a", "n1/b"))
	consumeAt(t, p, t0, gpuBatch("nvidia.gpu.clock.sm", t0, []float64{1, 1, 1, 1})) // a group, swept at t0
	consumeAt(t, p, t0.Add(7*time.Minute+30*time.Second), seriesPoints(t0, "n0/a"))
	consumeAt(t, p, t0.Add(8*time.Minute), pmetric.NewMetrics())
	assert.Equal(t, []string{"n0/a", "n1/b"}, watched(t, p), "b is exactly state_ttl old: kept")
	consumeAt(t, p, t0.Add(8*time.Minute+time.Second), pmetric.NewMetrics())
	assert.Equal(t, []string{"n0/a"}, watched(t, p), "b is past state_ttl")
	assert.NotContains(t, p.resources, "host.name=n1\x01", "and its resource with it")
	assert.Len(t, p.peers[0].groups, 1, "the group waits for its sweep (the last was at 7m30s)")
	consumeAt(t, p, t0.Add(8*time.Minute+31*time.Second), pmetric.NewMetrics())
	assert.Empty(t, p.peers[0].groups, "61 s after the last sweep")
	consumeAt(t, p, t0.Add(16*time.Minute), pmetric.NewMetrics())
	assert.Empty(t, watched(t, p))
	assert.Empty(t, p.resources)
}

// Against a model (a slice in recency order), over random calls with
// repeated, new and expiring series across resources: the processor keeps
// exactly the max_series most recently seen series not past state_ttl.
func TestRecencyMatchesModel(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Include = []string{"hw.gpu.utilization"}
	cfg.MaxSeries = 20
	cfg.StateTTL = time.Minute
	p := findProc(t, cfg)
	rng := rand.New(rand.NewPCG(7, 7))
	type entry struct {
		name string
		seen time.Time
	}
	var model []entry // most recent first
	var evicted int64
	now := t0
	for call := range 400 {
		now = now.Add(time.Duration(rng.IntN(20)) * time.Second)
		var names []string
		for range rng.IntN(12) {
			n := fmt.Sprintf("n%d/g%d", rng.IntN(6), rng.IntN(8))
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		// The points of one node arrive together, in first-seen order.
		var ordered []string
		for _, n := range names {
			node, _, _ := strings.Cut(n, "/")
			for _, m := range names {
				if strings.HasPrefix(m, node+"/") && !slices.Contains(ordered, m) {
					ordered = append(ordered, m)
				}
			}
		}
		for _, n := range ordered {
			if i := slices.IndexFunc(model, func(e entry) bool { return e.name == n }); i >= 0 {
				model = slices.Delete(model, i, i+1)
			} else if len(model) == cfg.MaxSeries {
				model = model[:len(model)-1]
				evicted++
			}
			model = slices.Insert(model, 0, entry{n, now})
		}
		for len(model) > 0 && now.Sub(model[len(model)-1].seen) > cfg.StateTTL {
			model = model[:len(model)-1]
		}
		consumeAt(t, p, now, seriesPoints(now, ordered...))
		want := make([]string, len(model))
		for i, e := range model {
			want[i] = e.name
		}
		require.Equal(t, want, watched(t, p), "call %d", call)
		require.Equal(t, evicted, counterValue(t, p, metricEvicted), "call %d", call)
	}
	require.Positive(t, evicted)
}
