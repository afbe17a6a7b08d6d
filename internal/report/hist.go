package report

import (
	"math"
	"slices"
)

// Hist is a histogram with explicit upper bounds: Counts[i] counts values
// in (Bounds[i-1], Bounds[i]], the last one above the last bound.
// Exponential histograms are converted to this form (ExpHist).
type Hist struct {
	Bounds []float64
	Counts []float64
	Count  float64
	Sum    float64
}

// Clone returns a deep copy.
func (h Hist) Clone() Hist {
	return Hist{Bounds: slices.Clone(h.Bounds), Counts: slices.Clone(h.Counts), Count: h.Count, Sum: h.Sum}
}

// Add returns h + o; with other bounds, o is re-bucketed onto h's by the
// upper bound of each of its buckets (the error stays within a bucket).
func (h Hist) Add(o Hist) Hist {
	if len(h.Counts) == 0 {
		return o.Clone()
	}
	r := h.Clone()
	r.Count += o.Count
	r.Sum += o.Sum
	if slices.Equal(h.Bounds, o.Bounds) {
		for i, c := range o.Counts {
			r.Counts[i] += c
		}
		return r
	}
	for i, c := range o.Counts {
		up := math.Inf(1)
		if i < len(o.Bounds) {
			up = o.Bounds[i]
		}
		j, _ := slices.BinarySearch(r.Bounds, up)
		r.Counts[min(j, len(r.Counts)-1)] += c
	}
	return r
}

// Sub returns h - o, for two readings of one cumulative histogram. When the
// bounds differ (an exponential histogram rescaled) or o is not below h (a
// reset), h itself is the best estimate of what happened since.
func (h Hist) Sub(o Hist) Hist {
	if !slices.Equal(h.Bounds, o.Bounds) || o.Count > h.Count {
		return h.Clone()
	}
	r := h.Clone()
	r.Count -= o.Count
	r.Sum -= o.Sum
	for i := range r.Counts {
		r.Counts[i] = max(0, r.Counts[i]-o.Counts[i])
	}
	return r
}

// Quantile estimates the q-quantile by linear interpolation inside the
// bucket; the first bucket starts at 0 (latencies and bandwidths are
// non-negative) and the open last bucket is taken as twice its bound.
func (h Hist) Quantile(q float64) float64 {
	total := 0.0
	for _, c := range h.Counts {
		total += c
	}
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	cum := 0.0
	for i, c := range h.Counts {
		if c <= 0 {
			continue
		}
		if cum+c >= rank {
			lo, hi := h.lower(i), h.upper(i)
			return lo + (hi-lo)*(rank-cum)/c
		}
		cum += c
	}
	return h.upper(len(h.Counts) - 1)
}

func (h Hist) lower(i int) float64 {
	if i == 0 || len(h.Bounds) == 0 {
		return math.Min(0, h.upper(0))
	}
	return h.Bounds[i-1]
}

func (h Hist) upper(i int) float64 {
	if i < len(h.Bounds) {
		return h.Bounds[i]
	}
	if len(h.Bounds) == 0 {
		return 1
	}
	return 2 * h.Bounds[len(h.Bounds)-1]
}

// Mean is Sum over Count, or the bucket estimate when no sum was sent.
func (h Hist) Mean() float64 {
	if h.Count > 0 && h.Sum != 0 {
		return h.Sum / h.Count
	}
	return h.Quantile(0.5)
}

// ExpHist converts an OTLP exponential histogram (positive buckets and the
// zero bucket; latencies have no negative values) to explicit bounds. Bucket
// index k covers (base^k, base^(k+1)] with base = 2^(2^-scale).
func ExpHist(scale int32, zeroCount uint64, zeroThreshold float64, offset int32, counts []uint64, count uint64, sum float64) Hist {
	base := math.Exp2(math.Exp2(-float64(scale)))
	h := Hist{Count: float64(count), Sum: sum}
	h.Bounds = append(h.Bounds, zeroThreshold)
	h.Counts = append(h.Counts, float64(zeroCount))
	for i, c := range counts {
		up := math.Pow(base, float64(int(offset)+i+1))
		if i == 0 {
			// The first positive bucket starts at its lower bound, not 0.
			lo := math.Pow(base, float64(int(offset)))
			if lo > zeroThreshold {
				h.Bounds[0] = lo
			}
		}
		h.Bounds = append(h.Bounds, up)
		h.Counts = append(h.Counts, float64(c))
	}
	h.Counts = append(h.Counts, 0)
	return h
}
