package metricseries

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func TestParseStatistic(t *testing.T) {
	for in, want := range map[string]string{"mean": "mean", "p50": "p50", "p99": "p99", "p99.9": "p99.9", "p0.5": "p0.5", "p05": "p5"} {
		s, err := ParseStatistic(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, s.String())
	}
	for _, in := range []string{"", "median", "p", "p0", "p100", "p101", "P50", "p1e1", "pInf", "p-5", "p99..9", "p 50", "50"} {
		_, err := ParseStatistic(in)
		assert.Error(t, err, in)
	}
}

// explicitMetric is one histogram metric with one point per counts row,
// all under the same attributes and start time.
func explicitMetric(temporality pmetric.AggregationTemporality, bounds []float64, sum float64, counts ...[]uint64) pmetric.Metric {
	m := pmetric.NewMetric()
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(temporality)
	for i, c := range counts {
		dp := h.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(1)
		dp.SetTimestamp(pcommon.Timestamp(10 + i))
		dp.ExplicitBounds().FromRaw(bounds)
		dp.BucketCounts().FromRaw(c)
		var n uint64
		for _, x := range c {
			n += x
		}
		dp.SetCount(n)
		if !math.IsNaN(sum) {
			dp.SetSum(sum * float64(i+1))
		}
	}
	return m
}

// values runs every histogram point of m through one Histograms and one
// series state; a point without a value is NaN.
func values(t *testing.T, stat string, m pmetric.Metric) []float64 {
	t.Helper()
	s, err := ParseStatistic(stat)
	require.NoError(t, err)
	h := Histograms{Stat: s}
	var st HistogramState
	var out []float64
	Each(m, true, func(pt Point) {
		require.True(t, pt.Hist.IsSet())
		v, ok := h.Value(pt, &st)
		if !ok {
			v = math.NaN()
		}
		out = append(out, v)
	})
	return out
}

func delta(bounds []float64, sum float64, counts ...[]uint64) pmetric.Metric {
	return explicitMetric(pmetric.AggregationTemporalityDelta, bounds, sum, counts...)
}

// Quantiles follow Prometheus' histogram_quantile, edges included.
func TestExplicitQuantiles(t *testing.T) {
	b := []float64{1, 2, 4, 8}
	m := delta(b, 30, []uint64{0, 10, 10, 0, 0})
	assert.Equal(t, []float64{2}, values(t, "p50", m))
	assert.Equal(t, []float64{1.5}, values(t, "p25", m))
	assert.InDelta(t, 3.6, values(t, "p90", m)[0], 1e-12)
	assert.Equal(t, []float64{1.5}, values(t, "mean", m), "sum/count")
	// The lowest bucket starts at 0; a rank in +Inf is the highest finite bound.
	assert.Equal(t, []float64{0.5}, values(t, "p50", delta(b, 1, []uint64{4, 0, 0, 0, 0})))
	assert.Equal(t, []float64{8}, values(t, "p99", delta(b, 1, []uint64{1, 0, 0, 0, 9})))
	// A lowest bound at or below 0 is the answer in the lowest bucket.
	assert.Equal(t, []float64{-1}, values(t, "p50", delta([]float64{-1, 0, 1}, 1, []uint64{4, 0, 0, 0})))

	nan := func(vs []float64) bool { return len(vs) == 1 && math.IsNaN(vs[0]) }
	assert.True(t, nan(values(t, "mean", delta(b, math.NaN(), []uint64{1, 1, 0, 0, 0}))), "a mean needs a sum")
	assert.True(t, nan(values(t, "p50", delta(b, 0, []uint64{0, 0, 0, 0, 0}))), "an empty interval has no statistic")
	assert.True(t, nan(values(t, "mean", delta(b, 0, []uint64{0, 0, 0, 0, 0}))))
	assert.True(t, nan(values(t, "p50", delta(nil, 5, []uint64{5}))), "one bucket has no quantile")
	assert.Equal(t, []float64{1}, values(t, "mean", delta(nil, 5, []uint64{5})), "but a mean")
}

func TestCumulativeExplicit(t *testing.T) {
	b := []float64{1, 2, 4, 8}
	m := explicitMetric(pmetric.AggregationTemporalityCumulative, b, 10,
		[]uint64{5, 0, 0, 0, 0},   // first point: no interval yet
		[]uint64{5, 10, 10, 0, 0}, // the interval of TestExplicitQuantiles
		[]uint64{5, 10, 10, 0, 0}, // nothing observed
		[]uint64{1, 10, 10, 0, 0}, // a bucket lower: reset
		[]uint64{1, 10, 10, 4, 0}, // after the reset: 4 in (4,8]
	)
	got := values(t, "p50", m)
	require.Len(t, got, 5)
	assert.True(t, math.IsNaN(got[0]))
	assert.Equal(t, 2.0, got[1])
	assert.True(t, math.IsNaN(got[2]), "an empty interval")
	assert.True(t, math.IsNaN(got[3]), "reset")
	assert.Equal(t, 6.0, got[4])
	// Sums 10, 20, 30, ...: each interval's mean is its sum over its count.
	assert.Equal(t, 0.5, values(t, "mean", m)[1], "10 over 20 points")

	// A new start time, fewer observations and new bounds are resets too.
	restart := explicitMetric(pmetric.AggregationTemporalityCumulative, b, 1, []uint64{1, 1, 0, 0, 0}, []uint64{1, 2, 0, 0, 0}, []uint64{2, 2, 0, 0, 0})
	restart.Histogram().DataPoints().At(1).SetStartTimestamp(5)
	restart.Histogram().DataPoints().At(2).SetStartTimestamp(5)
	assert.True(t, math.IsNaN(values(t, "p50", restart)[1]))
	assert.False(t, math.IsNaN(values(t, "p50", restart)[2]), "the restarted series goes on")
	fewer := explicitMetric(pmetric.AggregationTemporalityCumulative, b, 1, []uint64{1, 1, 0, 0, 0}, []uint64{1, 1, 0, 0, 0})
	fewer.Histogram().DataPoints().At(1).SetCount(1)
	assert.True(t, math.IsNaN(values(t, "mean", fewer)[1]))
	rebound := explicitMetric(pmetric.AggregationTemporalityCumulative, b, 1, []uint64{1, 1, 0, 0, 0}, []uint64{1, 2, 0, 0, 0})
	rebound.Histogram().DataPoints().At(1).ExplicitBounds().SetAt(3, 16)
	assert.True(t, math.IsNaN(values(t, "p50", rebound)[1]))
}

// The interval of two cumulative points is the delta point of the same
// observations, whatever the statistic.
func TestCumulativeIsDelta(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	b := []float64{0.001, 0.01, 0.1, 1, 10}
	acc := make([]uint64, len(b)+1)
	var cum, del []([]uint64)
	for range 50 {
		d := make([]uint64, len(b)+1)
		for range rng.IntN(40) {
			d[rng.IntN(len(d))]++
		}
		for i := range d {
			acc[i] += d[i]
		}
		cum, del = append(cum, append([]uint64(nil), acc...)), append(del, d)
	}
	for _, stat := range []string{"p50", "p90", "p99.9"} {
		c := values(t, stat, explicitMetric(pmetric.AggregationTemporalityCumulative, b, 1, cum...))
		d := values(t, stat, explicitMetric(pmetric.AggregationTemporalityDelta, b, 1, del...))
		for i := 1; i < len(c); i++ {
			if math.IsNaN(d[i]) {
				assert.True(t, math.IsNaN(c[i]), "%s %d", stat, i)
			} else {
				assert.InDelta(t, d[i], c[i], 1e-12, "%s %d", stat, i)
			}
		}
	}
}

type expPoint struct {
	scale          int32
	zero           uint64
	zeroThreshold  float64
	posOff, negOff int32
	pos, neg       []uint64
	sum            float64
}

func expMetric(temporality pmetric.AggregationTemporality, pts ...expPoint) pmetric.Metric {
	m := pmetric.NewMetric()
	h := m.SetEmptyExponentialHistogram()
	h.SetAggregationTemporality(temporality)
	for i, p := range pts {
		dp := h.DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.Timestamp(10 + i))
		dp.SetScale(p.scale)
		dp.SetZeroCount(p.zero)
		dp.SetZeroThreshold(p.zeroThreshold)
		dp.Positive().SetOffset(p.posOff)
		dp.Positive().BucketCounts().FromRaw(p.pos)
		dp.Negative().SetOffset(p.negOff)
		dp.Negative().BucketCounts().FromRaw(p.neg)
		n := p.zero
		for _, c := range append(append([]uint64(nil), p.pos...), p.neg...) {
			n += c
		}
		dp.SetCount(n)
		dp.SetSum(p.sum)
	}
	return m
}

func TestExponentialQuantiles(t *testing.T) {
	d := pmetric.AggregationTemporalityDelta
	// Scale 0: bucket k is (2^k, 2^(k+1)].
	assert.Equal(t, []float64{3}, values(t, "p50", expMetric(d, expPoint{posOff: 0, pos: []uint64{0, 4}})))
	assert.Equal(t, []float64{6}, values(t, "p50", expMetric(d, expPoint{posOff: 2, pos: []uint64{4}})))
	// Scale 1: base √2, bucket 3 is (2^1.5, 4].
	assert.InDelta(t, 2*math.Sqrt2+(4-2*math.Sqrt2)/2, values(t, "p50", expMetric(d, expPoint{scale: 1, posOff: 3, pos: []uint64{2}}))[0], 1e-12)
	// Scale -1: base 4, bucket 1 is (4, 16].
	assert.Equal(t, []float64{10}, values(t, "p50", expMetric(d, expPoint{scale: -1, posOff: 1, pos: []uint64{4}})))
	// Negative buckets mirror: bucket 1 is [-4, -2), and they come first.
	assert.Equal(t, []float64{-3}, values(t, "p50", expMetric(d, expPoint{negOff: 1, neg: []uint64{4}})))
	assert.Equal(t, []float64{-3}, values(t, "p12.5", expMetric(d, expPoint{negOff: 1, neg: []uint64{2}, pos: []uint64{0, 6}})))
	// The zero bucket: [0, threshold] without negative observations.
	assert.Equal(t, []float64{0.25}, values(t, "p25", expMetric(d, expPoint{zero: 2, zeroThreshold: 0.5, pos: []uint64{0, 2}})))
	assert.Equal(t, []float64{0}, values(t, "p50", expMetric(d, expPoint{zero: 2, zeroThreshold: 0.5, negOff: 1, neg: []uint64{1}, pos: []uint64{0, 1}})))
	assert.Equal(t, []float64{2.5}, values(t, "mean", expMetric(d, expPoint{pos: []uint64{0, 4}, sum: 10})))
	assert.True(t, math.IsNaN(values(t, "p50", expMetric(d, expPoint{}))[0]), "an empty interval")
}

func TestCumulativeExponential(t *testing.T) {
	c := pmetric.AggregationTemporalityCumulative
	m := expMetric(c,
		expPoint{scale: 1, posOff: 0, pos: []uint64{1, 1, 1, 1}, zero: 1, sum: 10},
		// Scale 0 now: the previous buckets 0..3 merge into 0 and 1 (2 each);
		// new: one more in bucket 0, five in the new bucket 2, one at zero.
		expPoint{scale: 0, posOff: 0, pos: []uint64{3, 2, 5}, zero: 2, sum: 40},
		// Offsets move: bucket 0 is gone from the new point while the old
		// one had counts there, which only a reset does.
		expPoint{scale: 0, posOff: 1, pos: []uint64{5, 6}, zero: 2, sum: 41},
	)
	var st HistogramState
	h := Histograms{}
	var n int
	Each(m, true, func(pt Point) {
		_, ok := h.Value(pt, &st)
		switch n {
		case 0:
			assert.False(t, ok, "first point")
		case 1:
			require.True(t, ok)
			assert.Equal(t, []uint64{1, 0, 5}, h.iv.pos)
			assert.Equal(t, uint64(1), h.iv.zero)
			assert.Equal(t, uint64(7), h.iv.count)
			assert.Equal(t, 30.0, h.iv.sum)
		case 2:
			assert.False(t, ok, "a bucket emptied is a reset")
		}
		n++
	})
	assert.Equal(t, 3, n)

	// Negative buckets too, and a growing range on both sides.
	m = expMetric(c,
		expPoint{negOff: -1, neg: []uint64{1, 2}, posOff: 3, pos: []uint64{1}},
		expPoint{negOff: -2, neg: []uint64{1, 1, 2}, posOff: 3, pos: []uint64{1, 4}},
	)
	st, n = HistogramState{}, 0
	Each(m, true, func(pt Point) {
		if _, ok := h.Value(pt, &st); n == 1 {
			require.True(t, ok)
			assert.Equal(t, []uint64{1, 0, 0}, h.iv.neg)
			assert.Equal(t, []uint64{0, 4}, h.iv.pos)
		}
		n++
	})
}

func TestDownscale(t *testing.T) {
	off, b := downscale(-3, []uint64{1, 2, 3, 4}, 1) // -3..0 → -2, -1, -1, 0
	assert.Equal(t, int32(-2), off)
	assert.Equal(t, []uint64{1, 5, 4}, b)
	off, b = downscale(0, []uint64{1, 1, 1, 1, 1, 1, 1, 1, 1}, 2) // 0..8 → 0,0,0,0,1,1,1,1,2
	assert.Equal(t, int32(0), off)
	assert.Equal(t, []uint64{4, 4, 1}, b)
	off, b = downscale(5, nil, 3)
	assert.Equal(t, int32(0), off)
	assert.Empty(t, b)
}

func TestEachHistograms(t *testing.T) {
	m := explicitMetric(pmetric.AggregationTemporalityCumulative, []float64{1}, 1, []uint64{1, 1}, []uint64{2, 2})
	m.Histogram().DataPoints().At(0).Attributes().PutStr("k", "v")
	m.Histogram().DataPoints().At(1).SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	EachPoint(m, func(Point) { t.Fatal("EachPoint yields number points only") })
	Each(m, false, func(Point) { t.Fatal("histograms off") })
	var got []Point
	Each(m, true, func(p Point) { got = append(got, p) })
	require.Len(t, got, 1, "a point with no recorded value is skipped")
	assert.True(t, got[0].Cumulative)
	assert.True(t, got[0].Hist.IsSet())
	assert.Equal(t, pcommon.Timestamp(1), got[0].Start)
	v, _ := got[0].Attrs.Get("k")
	assert.Equal(t, "v", v.Str())

	e := expMetric(pmetric.AggregationTemporalityDelta, expPoint{pos: []uint64{1}})
	got = got[:0]
	Each(e, true, func(p Point) { got = append(got, p) })
	require.Len(t, got, 1)
	assert.False(t, got[0].Cumulative)

	g := pmetric.NewMetric()
	g.SetEmptyGauge().DataPoints().AppendEmpty().SetDoubleValue(2)
	got = got[:0]
	Each(g, true, func(p Point) { got = append(got, p) })
	require.Len(t, got, 1)
	assert.False(t, got[0].Hist.IsSet())
	_, ok := (&Histograms{}).Value(got[0], nil)
	assert.False(t, ok, "a number point is no histogram")
}

// BenchmarkHistogramsValue is the histogram work of one point alone: the
// interval (a difference for cumulative points) and the statistic.
func BenchmarkHistogramsValue(b *testing.B) {
	bounds := []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}
	counts := func(i int) []uint64 {
		c := make([]uint64, 11)
		for j := range c {
			c[j] = uint64((i + 1) * (j + 1) * 10)
		}
		return c
	}
	pts := func(m pmetric.Metric) (out []Point) {
		Each(m, true, func(p Point) { out = append(out, p) })
		return out
	}
	var cum, exp []Point
	for i := range 64 {
		cum = append(cum, pts(explicitMetric(pmetric.AggregationTemporalityCumulative, bounds, 1, counts(i)))...)
		c := counts(i)
		exp = append(exp, pts(expMetric(pmetric.AggregationTemporalityCumulative, expPoint{scale: 3, posOff: 20, pos: c[:8], negOff: -4, neg: c[8:], sum: float64(i)}))...)
	}
	for _, c := range []struct {
		name string
		pts  []Point
		stat string
	}{{"explicit-cumulative-p99", cum, "p99"}, {"explicit-delta-p99", pts(delta(bounds, 1, counts(0))), "p99"}, {"explicit-cumulative-mean", cum, "mean"}, {"exponential-cumulative-p99", exp, "p99"}} {
		b.Run(c.name, func(b *testing.B) {
			s, _ := ParseStatistic(c.stat)
			h := Histograms{Stat: s}
			var st HistogramState
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				// Cumulative points in increasing order, then a reset: one
				// point in 64 yields no value.
				h.Value(c.pts[i%len(c.pts)], &st)
			}
		})
	}
}
