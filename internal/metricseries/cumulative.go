package metricseries // import "github.com/acceltel/acceltel/internal/metricseries"

import (
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// HistogramState is what a cumulative histogram series keeps of its
// previous point, so that each point's interval is its difference from it.
// Its zero value is a series without a previous point.
type HistogramState struct {
	start pcommon.Timestamp
	count uint64
	sum   float64
	// layout identifies the bucket layout the counts are in: a hash of the
	// explicit bounds, or the exponential zero threshold's bits. A new
	// layout cannot be subtracted from the old one and counts as a reset.
	layout         uint64
	zero           uint64
	scale          int32
	posOff, negOff int32
	pos, neg       []uint64 // explicit: pos holds the bucket counts
	hasSum, have   bool
}

// diff puts pt's interval into iv and keeps pt as the previous point. It
// reports false for the first point, a new start time, or a count or any
// bucket lower than before: a reset, after which the point itself starts
// the next interval, as with cumulative sums.
func (st *HistogramState) diff(pt Point, iv *interval) bool {
	ok := st.have && pt.Start == st.start
	if pt.Hist.kind == histExplicit {
		ok = st.diffExplicit(pt.Hist.explicit, iv, ok)
	} else {
		ok = st.diffExponential(pt.Hist.exp, iv, ok)
	}
	st.start, st.have = pt.Start, true
	return ok
}

func (st *HistogramState) diffExplicit(dp pmetric.HistogramDataPoint, iv *interval, ok bool) bool {
	bc := dp.BucketCounts()
	layout := boundsHash(dp.ExplicitBounds())
	ok = ok && dp.Count() >= st.count && layout == st.layout && bc.Len() == len(st.pos)
	if ok {
		iv.count, iv.sum, iv.hasSum, iv.exp = dp.Count()-st.count, dp.Sum()-st.sum, dp.HasSum() && st.hasSum, false
		iv.bounds = dp.ExplicitBounds()
		iv.pos = iv.pos[:0]
		for i, prev := range st.pos {
			c := bc.At(i)
			if c < prev {
				ok = false
				break
			}
			iv.pos = append(iv.pos, c-prev)
		}
	}
	st.count, st.sum, st.hasSum, st.layout = dp.Count(), dp.Sum(), dp.HasSum(), layout
	st.pos = appendCounts(st.pos[:0], bc)
	return ok
}

func (st *HistogramState) diffExponential(dp pmetric.ExponentialHistogramDataPoint, iv *interval, ok bool) bool {
	layout := math.Float64bits(dp.ZeroThreshold())
	// A cumulative exponential histogram lowers its scale as its range
	// grows; the previous counts are merged down to the new scale. A higher
	// scale cannot come from the same accumulation.
	ok = ok && dp.Count() >= st.count && dp.ZeroCount() >= st.zero && layout == st.layout && dp.Scale() <= st.scale
	if ok {
		if shift := st.scale - dp.Scale(); shift > 0 {
			st.posOff, st.pos = downscale(st.posOff, st.pos, shift)
			st.negOff, st.neg = downscale(st.negOff, st.neg, shift)
		}
		iv.count, iv.sum, iv.hasSum, iv.exp = dp.Count()-st.count, dp.Sum()-st.sum, dp.HasSum() && st.hasSum, true
		iv.scale, iv.zero, iv.zeroThreshold = dp.Scale(), dp.ZeroCount()-st.zero, dp.ZeroThreshold()
		iv.posOff, iv.negOff = dp.Positive().Offset(), dp.Negative().Offset()
		var okPos, okNeg bool
		iv.pos, okPos = diffBuckets(iv.pos[:0], dp.Positive(), st.posOff, st.pos)
		iv.neg, okNeg = diffBuckets(iv.neg[:0], dp.Negative(), st.negOff, st.neg)
		ok = okPos && okNeg
	}
	st.count, st.sum, st.hasSum, st.layout = dp.Count(), dp.Sum(), dp.HasSum(), layout
	st.zero, st.scale = dp.ZeroCount(), dp.Scale()
	st.posOff, st.pos = dp.Positive().Offset(), appendCounts(st.pos[:0], dp.Positive().BucketCounts())
	st.negOff, st.neg = dp.Negative().Offset(), appendCounts(st.neg[:0], dp.Negative().BucketCounts())
	return ok
}

// diffBuckets appends cur's counts less prev's, index by index, to dst; ok
// is false when a bucket of prev holds more than cur's (a reset).
func diffBuckets(dst []uint64, cur pmetric.ExponentialHistogramDataPointBuckets, prevOff int32, prev []uint64) ([]uint64, bool) {
	off, bc := int(cur.Offset()), cur.BucketCounts()
	n := bc.Len()
	for j, c := range prev {
		if c == 0 {
			continue
		}
		if k := int(prevOff) + j - off; k < 0 || k >= n || bc.At(k) < c {
			return dst, false
		}
	}
	for i := 0; i < n; i++ {
		c := bc.At(i)
		if k := off + i - int(prevOff); k >= 0 && k < len(prev) {
			c -= prev[k]
		}
		dst = append(dst, c)
	}
	return dst, true
}

// downscale merges buckets starting at index off into the buckets of a
// scale lower by shift, in place: bucket k becomes bucket k>>shift (an
// arithmetic shift, so negative indexes floor as the mapping requires).
func downscale(off int32, b []uint64, shift int32) (int32, []uint64) {
	newOff := off >> shift
	if len(b) == 0 {
		return newOff, b
	}
	for j, c := range b {
		// Targets never pass j and only move forward, so each one has been
		// read (and cleared, if it moved) before anything is added to it.
		if t := int((off+int32(j))>>shift - newOff); t != j {
			b[t] += c
			b[j] = 0
		}
	}
	n := int((off+int32(len(b)-1))>>shift-newOff) + 1
	return newOff, b[:n]
}

// boundsHash is FNV-1a over the bounds' bits: enough to tell a new bucket
// layout from the old one without keeping a copy of the bounds per series.
func boundsHash(b pcommon.Float64Slice) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < b.Len(); i++ {
		h = (h ^ math.Float64bits(b.At(i))) * 1099511628211
	}
	return h
}
