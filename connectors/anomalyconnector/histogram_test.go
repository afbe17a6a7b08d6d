package anomalyconnector

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// A cumulative histogram is watched on the configured statistic of each
// interval, and the record's value is that statistic.
func TestHistogramWatched(t *testing.T) {
	c, sink := newTestConnector(t, func(cfg *Config) {
		cfg.Include = []string{"nccl.operation.duration"}
		cfg.HistogramStatistic = "p50"
	})
	rng := rand.New(rand.NewPCG(3, 4))
	bounds := []float64{1, 2, 4, 8, 16, 32, 64}
	acc := make([]uint64, len(bounds)+1)
	for i := range 400 {
		// The bulk sits in (2,4], around its middle; from point 350 on it
		// moves to (16,32].
		b := 2
		if i >= 350 {
			b = 5
		}
		acc[b] += 100
		acc[b-1] += uint64(40 + rng.IntN(20))
		acc[b+1] += uint64(40 + rng.IntN(20))
		md := pmetric.NewMetrics()
		m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("nccl.operation.duration")
		h := m.SetEmptyHistogram()
		h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := h.DataPoints().AppendEmpty()
		dp.Attributes().PutStr("nccl.operation", "allreduce")
		dp.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i+1) * 10 * time.Second)))
		dp.ExplicitBounds().FromRaw(bounds)
		dp.BucketCounts().FromRaw(acc)
		var n uint64
		for _, x := range acc {
			n += x
		}
		dp.SetCount(n)
		require.NoError(t, c.ConsumeMetrics(context.Background(), md))
	}
	// Every record's value is its interval's median, whatever the engine
	// makes of it: in (2,4] before the move, in (16,32] after; and the move
	// itself starts an anomaly at once.
	moved := pcommon.NewTimestampFromTime(t0.Add(351 * 10 * time.Second))
	var startedAtMove bool
	for _, r := range records(sink) {
		assert.Equal(t, "allreduce", attr(t, r.lr, "nccl.operation").Str())
		v := attr(t, r.lr, attrValue).Double()
		if r.lr.Timestamp() < moved {
			assert.True(t, v > 2 && v <= 4, "median %g before the move", v)
			continue
		}
		assert.True(t, v > 16 && v <= 32, "median %g after the move", v)
		if r.lr.Timestamp() == moved && attr(t, r.lr, attrEvent).Str() == "start" {
			startedAtMove = true
		}
	}
	assert.True(t, startedAtMove, "no anomaly started at the first moved interval")
}
