package metricseries // import "github.com/acceltel/acceltel/internal/metricseries"

import (
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// interval is the distribution of one histogram interval: a delta point's
// own, or the difference of two cumulative points.
type interval struct {
	count  uint64
	sum    float64
	hasSum bool
	exp    bool
	// Explicit buckets: pos holds the counts, bounds the point's bounds.
	bounds pcommon.Float64Slice
	// Exponential buckets: pos and neg start at index posOff and negOff.
	scale          int32
	posOff, negOff int32
	zero           uint64
	zeroThreshold  float64
	pos, neg       []uint64
}

func (iv *interval) setExplicit(dp pmetric.HistogramDataPoint) {
	iv.count, iv.sum, iv.hasSum, iv.exp = dp.Count(), dp.Sum(), dp.HasSum(), false
	iv.bounds = dp.ExplicitBounds()
	iv.pos = appendCounts(iv.pos[:0], dp.BucketCounts())
}

func (iv *interval) setExponential(dp pmetric.ExponentialHistogramDataPoint) {
	iv.count, iv.sum, iv.hasSum, iv.exp = dp.Count(), dp.Sum(), dp.HasSum(), true
	iv.scale, iv.zero, iv.zeroThreshold = dp.Scale(), dp.ZeroCount(), dp.ZeroThreshold()
	iv.posOff, iv.negOff = dp.Positive().Offset(), dp.Negative().Offset()
	iv.pos = appendCounts(iv.pos[:0], dp.Positive().BucketCounts())
	iv.neg = appendCounts(iv.neg[:0], dp.Negative().BucketCounts())
}

func appendCounts(dst []uint64, s pcommon.UInt64Slice) []uint64 {
	for i := 0; i < s.Len(); i++ {
		dst = append(dst, s.At(i))
	}
	return dst
}

func (iv *interval) statistic(s Statistic) (float64, bool) {
	if iv.count == 0 {
		return 0, false
	}
	if s.Mean() {
		if !iv.hasSum {
			return 0, false
		}
		return iv.sum / float64(iv.count), true
	}
	if iv.exp {
		return iv.exponentialQuantile(s.pct / 100)
	}
	return explicitQuantile(s.pct/100, iv.bounds, iv.pos)
}

// explicitQuantile interpolates linearly within the bucket the rank falls
// in, as Prometheus' histogram_quantile does, including its edges: the
// lowest bucket starts at 0 unless its upper bound is not positive (then
// that bound is the answer), and a rank in the +Inf bucket gets the highest
// finite bound. Fewer than two buckets say nothing about a quantile.
func explicitQuantile(q float64, bounds pcommon.Float64Slice, counts []uint64) (float64, bool) {
	n := len(counts)
	if n < 2 || bounds.Len() != n-1 {
		return 0, false
	}
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return 0, false
	}
	rank := q * float64(total)
	var cum uint64
	for i, c := range counts[:n-1] {
		if float64(cum+c) >= rank {
			hi := bounds.At(i)
			lo := 0.0
			if i > 0 {
				lo = bounds.At(i - 1)
			} else if hi <= 0 {
				return hi, true
			}
			return lo + (hi-lo)*(rank-float64(cum))/float64(c), true
		}
		cum += c
	}
	return bounds.At(n - 2), true
}

// exponentialQuantile interpolates linearly within the bucket the rank
// falls in. Bucket index k holds (base^k, base^(k+1)] with base =
// 2^(2^-scale), negative buckets the mirror image; the zero bucket spans
// [-threshold, threshold] when there are negative observations, else
// [0, threshold].
func (iv *interval) exponentialQuantile(q float64) (float64, bool) {
	var negTotal, posTotal uint64
	for _, c := range iv.neg {
		negTotal += c
	}
	for _, c := range iv.pos {
		posTotal += c
	}
	total := negTotal + iv.zero + posTotal
	if total == 0 {
		return 0, false
	}
	rank := q * float64(total)
	within := func(lo, hi float64, cum, c uint64) float64 {
		return lo + (hi-lo)*(rank-float64(cum))/float64(c)
	}
	var cum uint64
	for j := len(iv.neg) - 1; j >= 0; j-- { // the most negative first
		if c := iv.neg[j]; c > 0 {
			if float64(cum+c) >= rank {
				k := iv.negOff + int32(j)
				return within(-bucketBound(k+1, iv.scale), -bucketBound(k, iv.scale), cum, c), true
			}
			cum += c
		}
	}
	if iv.zero > 0 {
		if float64(cum+iv.zero) >= rank {
			lo := 0.0
			if negTotal > 0 {
				lo = -iv.zeroThreshold
			}
			return within(lo, iv.zeroThreshold, cum, iv.zero), true
		}
		cum += iv.zero
	}
	for j, c := range iv.pos {
		if c > 0 && float64(cum+c) >= rank {
			k := iv.posOff + int32(j)
			return within(bucketBound(k, iv.scale), bucketBound(k+1, iv.scale), cum, c), true
		}
		cum += c
	}
	// Unreachable: rank <= total, and the last non-empty bucket reaches total.
	return 0, false
}

// bucketBound is base^k for base = 2^(2^-scale).
func bucketBound(k, scale int32) float64 {
	if scale <= 0 { // base^k is 2^(k·2^-scale): exact, and no exp
		return math.Ldexp(1, int(k)<<-scale)
	}
	return math.Exp2(math.Ldexp(float64(k), -int(scale)))
}
