package anomaly

import "math"

// KNN is a nearest-neighbour conformal-style detector in the spirit of NAB's
// KNN CAD: the last dim values form a lag vector, and its nonconformity is
// the mean RMS distance to its k nearest neighbours among the earlier,
// non-overlapping lag vectors of a ring of the last `window` values. A value
// that continues a shape the series has shown recently is near some earlier
// vector however large it is (a daily spike, a square wave); a new shape is
// far from all of them, whatever its level. The ring is float32 for the same
// reason as RobustZ's window: it is a baseline, not an archive.
type KNN struct {
	ring   []float32 // newest first
	dim, k uint8
}

// maxKNNK bounds k so that the k smallest distances fit in a fixed array,
// and maxKNNWindow the window (the per-point shift of the ring grows with it).
const (
	maxKNNK      = 8
	maxKNNWindow = 1024
)

// NewKNN returns a detector over the last window values (3*dim <= window
// <= 1024), lag vectors of dim values (1..16) and k neighbours (1..8);
// arguments outside those ranges are clamped.
func NewKNN(window, dim, k int) *KNN {
	dim = min(max(dim, 1), 16)
	window = min(max(window, 3*dim), maxKNNWindow)
	k = min(max(k, 1), maxKNNK)
	return &KNN{ring: make([]float32, 0, window), dim: uint8(dim), k: uint8(k)}
}

// Update returns x's nonconformity in units of scale (the series' typical
// step; the caller's floor), then adds x. It returns 0 until the ring is full.
func (n *KNN) Update(x, scale float64) float64 {
	h := cap(n.ring)
	if len(n.ring) < h {
		// Filling: newest first here too.
		n.ring = n.ring[:len(n.ring)+1]
		copy(n.ring[1:], n.ring[:len(n.ring)-1])
		n.ring[0] = float32(x)
		return 0
	}
	// The ring is kept newest first (ring[i] is the value i+1 steps before
	// x), so the scan below runs over one contiguous slice without index
	// arithmetic; keeping it so costs one short memmove per point.
	r := n.ring
	dim, k := int(n.dim), int(n.k)
	var best [maxKNNK]float32
	for i := range k {
		best[i] = float32(math.Inf(1))
	}
	// Candidates end `lag` steps before x; lag >= dim keeps them from
	// overlapping x's own vector (an overlapping one is trivially close on a
	// smooth series), and lag + dim - 1 <= h keeps them inside the ring.
	last := h - dim + 1
	if dim == 3 {
		q0, q1, q2 := float32(x), r[0], r[1]
		for lag := 3; lag <= last; lag++ {
			c := r[lag-1 : lag+2 : lag+2]
			e0, e1, e2 := q0-c[0], q1-c[1], q2-c[2]
			d := e0*e0 + e1*e1 + e2*e2
			if d < best[k-1] {
				insertBest(best[:k], d)
			}
		}
	} else {
		for lag := dim; lag <= last; lag++ {
			e := float32(x) - r[lag-1]
			d := e * e
			for j := 1; j < dim; j++ {
				e := r[j-1] - r[lag+j-1]
				d += e * e
			}
			if d < best[k-1] {
				insertBest(best[:k], d)
			}
		}
	}
	var sum float64
	for i := range k {
		sum += math.Sqrt(float64(best[i]) / float64(dim))
	}
	copy(r[1:], r[:h-1])
	r[0] = float32(x)
	return sum / float64(k) / math.Max(scale, 1e-9)
}

// insertBest puts d into best (ascending, d < its last element), dropping the last.
func insertBest(best []float32, d float32) {
	i := len(best) - 1
	for i > 0 && best[i-1] > d {
		best[i] = best[i-1]
		i--
	}
	best[i] = d
}
