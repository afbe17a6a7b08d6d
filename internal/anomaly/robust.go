package anomaly

import "math"

// madToSigma makes the MAD a consistent estimator of a normal sigma.
const madToSigma = 1.4826

// RobustZ scores a point against the median and MAD of the previous w
// points. Values are stored as float32: the window serves as a baseline, not
// an archive, and halving it keeps a series well under a kilobyte.
type RobustZ struct {
	ring   []float32 // arrival order, for eviction
	sorted []float32 // same values kept sorted, for median and MAD in O(w)
	pos    int
}

// NewRobustZ returns a robust z-score detector over a window of w points (w >= 3).
func NewRobustZ(w int) *RobustZ {
	if w < 3 {
		w = 3
	}
	return &RobustZ{ring: make([]float32, 0, w), sorted: make([]float32, 0, w)}
}

// Ready reports whether the window is full.
func (r *RobustZ) Ready() bool { return len(r.ring) == cap(r.ring) }

// Update returns the signed z-score of x against the window before x, then
// adds x. Until the window holds 3 points it returns 0. floor bounds the
// scale from below (see Ensemble: a zero MAD is common in quantised series).
func (r *RobustZ) Update(x, floor float64) float64 {
	z := 0.0
	if len(r.sorted) >= 3 {
		med, mad := r.medianMAD()
		z = (x - med) / scaleFloor(madToSigma*mad, med, floor)
	}
	r.push(float32(x))
	return z
}

// Median returns the current window median (0 when empty).
func (r *RobustZ) Median() float64 {
	if len(r.sorted) == 0 {
		return 0
	}
	m, _ := r.medianMAD()
	return m
}

func (r *RobustZ) push(v float32) {
	if len(r.ring) < cap(r.ring) {
		r.ring = append(r.ring, v)
		r.sorted = append(r.sorted, 0)
		insertSorted(r.sorted[:len(r.sorted)-1], r.sorted, v)
		return
	}
	old := r.ring[r.pos]
	r.ring[r.pos] = v
	r.pos = (r.pos + 1) % len(r.ring)
	// Remove old, then insert v; both by shifting, O(w) with w small.
	i := searchF32(r.sorted, old, false)
	copy(r.sorted[i:], r.sorted[i+1:])
	insertSorted(r.sorted[:len(r.sorted)-1], r.sorted, v)
}

// insertSorted inserts v into s (sorted, len n) using buf (len n+1, same backing array).
func insertSorted(s, buf []float32, v float32) {
	i := searchF32(s, v, true)
	copy(buf[i+1:], s[i:])
	buf[i] = v
}

// searchF32 is sort.Search without the closure call, which dominated the
// detector's cost: the first index with s[i] > v (after) or s[i] >= v.
func searchF32(s []float32, v float32, after bool) int {
	lo, hi := 0, len(s)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s[m] < v || (after && s[m] == v) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// medianMAD computes the median and, by merging outward from it, the median
// absolute deviation without a scratch buffer.
func (r *RobustZ) medianMAD() (float64, float64) {
	s := r.sorted
	n := len(s)
	var med float64
	if n%2 == 1 {
		med = float64(s[n/2])
	} else {
		med = (float64(s[n/2-1]) + float64(s[n/2])) / 2
	}
	// Deviations left of the median grow as i decreases, right of it as j
	// increases: the k-th smallest deviation is found by a two-way merge.
	i, j := n/2-1, n/2
	if n%2 == 1 {
		j = n / 2
		i = n/2 - 1
	}
	var devs [2]float64
	k := (n - 1) / 2
	for c := 0; c <= k+1 && c < n; c++ {
		var d float64
		switch {
		case i < 0:
			d = float64(s[j]) - med
			j++
		case j >= n:
			d = med - float64(s[i])
			i--
		default:
			dl, dr := med-float64(s[i]), float64(s[j])-med
			if dl <= dr {
				d = dl
				i--
			} else {
				d = dr
				j++
			}
		}
		if c == k {
			devs[0] = d
		}
		if c == k+1 {
			devs[1] = d
		}
	}
	if n%2 == 1 {
		return med, devs[0]
	}
	return med, (devs[0] + devs[1]) / 2
}

// scaleFloor keeps a zero MAD (flat or quantised series) from turning every
// tiny change into an infinite z-score.
func scaleFloor(scale, level, floor float64) float64 {
	f := max(1e-3*math.Abs(level)+1e-9, floor)
	if scale < f {
		return f
	}
	return scale
}
