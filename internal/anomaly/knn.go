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
	// ring holds the last window values; ring[pos] is the newest and age
	// grows with the index, wrapping around. Filling starts at the end, so
	// a full ring begins with pos 0 and no wrap.
	ring   []float32
	pos    uint16
	dim, k uint8
	full   bool
}

// maxKNNK bounds k so that the k smallest distances fit in a fixed array,
// and maxKNNWindow the window (the scan per point grows with it).
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
	return &KNN{ring: make([]float32, window), pos: uint16(window), dim: uint8(dim), k: uint8(k)}
}

// Update returns x's nonconformity in units of scale (the series' typical
// step; the caller's floor), then adds x. It returns 0 until the ring is full.
func (n *KNN) Update(x, scale float64) float64 {
	r := n.ring
	h, p := len(r), int(n.pos)
	if !n.full {
		p--
		r[p] = float32(x)
		n.pos, n.full = uint16(p), p == 0
		return 0
	}
	dim, k := int(n.dim), int(n.k)
	var best [maxKNNK]float32
	inf := float32(math.Inf(1))
	for i := range k {
		best[i] = inf
	}
	// Candidates end `lag` steps before x; lag >= dim keeps them from
	// overlapping x's own vector (an overlapping one is trivially close on a
	// smooth series), and lag + dim - 1 <= h keeps them inside the ring.
	if dim == 3 && k == 3 {
		// The default shape. The ring is scanned where it lies, as (at
		// most) two contiguous runs, instead of being shifted every point.
		// Candidates slide by one value per lag, so each step loads one.
		at := func(i int) float32 {
			if i += p; i >= h {
				i -= h
			}
			return r[i]
		}
		q0, q1, q2 := float32(x), at(0), at(1)
		c0, c1 := at(2), at(3)
		b0, b1, b2 := math.Float32bits(inf), math.Float32bits(inf), math.Float32bits(inf)
		if p+4 <= h {
			c0, c1, b0, b1, b2 = scan3(q0, q1, q2, c0, c1, r[p+4:], b0, b1, b2)
			_, _, b0, b1, b2 = scan3(q0, q1, q2, c0, c1, r[:p], b0, b1, b2)
		} else {
			_, _, b0, b1, b2 = scan3(q0, q1, q2, c0, c1, r[p+4-h:p], b0, b1, b2)
		}
		best[0], best[1], best[2] = math.Float32frombits(b0), math.Float32frombits(b1), math.Float32frombits(b2)
	} else {
		// worst mirrors best[k-1] in a register: the test below runs once
		// per candidate and is rarely true once the first few are in.
		worst := inf
		for lag := dim; lag+dim-1 <= h; lag++ {
			i := p + lag - 1
			if i >= h {
				i -= h
			}
			e := float32(x) - r[i]
			d := e * e
			for j := 1; j < dim; j++ {
				a, c := p+j-1, i+j
				if a >= h {
					a -= h
				}
				if c >= h {
					c -= h
				}
				e := r[a] - r[c]
				d += e * e
			}
			if d < worst {
				insertBest(best[:k], d)
				worst = best[k-1]
			}
		}
	}
	// The RMS over dim and the mean over k are folded into one division
	// below, which does not wait on the scan.
	var sum float64
	for i := range k {
		sum += math.Sqrt(float64(best[i]))
	}
	if p == 0 {
		p = h
	}
	p--
	r[p] = float32(x)
	n.pos = uint16(p)
	return sum / (float64(k) * math.Sqrt(float64(dim)) * max(scale, 1e-9))
}

// scan3 runs dim-3, k-3 candidates over one contiguous run of the ring,
// updating the three best squared distances (as bits, ascending), and
// returns the last two values for the next run. It is branch-free: on a
// noisy series the test "is d among the k best" flips unpredictably, and its
// mispredictions cost more than the scan. Squared distances are
// non-negative, and non-negative floats order as their bit patterns do, so
// the three best are kept by integer min and max, which compile to
// conditional moves.
func scan3(q0, q1, q2, c0, c1 float32, run []float32, b0, b1, b2 uint32) (float32, float32, uint32, uint32, uint32) {
	for _, c2 := range run {
		e0, e1, e2 := q0-c0, q1-c1, q2-c2
		u := math.Float32bits(e0*e0 + e1*e1 + e2*e2)
		lo, hi := min(b0, u), max(b0, u)
		b0 = lo
		lo, hi = min(b1, hi), max(b1, hi)
		b1 = lo
		b2 = min(b2, hi)
		c0, c1 = c1, c2
	}
	return c0, c1, b0, b1, b2
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
