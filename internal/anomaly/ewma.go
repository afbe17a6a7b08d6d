package anomaly

import "math"

// EWMA tracks an exponentially weighted mean and variance. The variance adapts
// to the series, but each update is winsorised at clip sigmas so that one
// anomaly does not inflate the variance enough to hide the next one.
type EWMA struct {
	alpha, clip float64
	mean, vari  float64
	n           uint32
}

// NewEWMA returns an EWMA detector with smoothing alpha in (0,1) and clip sigmas (<=0: no clipping).
func NewEWMA(alpha, clip float64) *EWMA { return &EWMA{alpha: alpha, clip: clip} }

// Update returns the signed z-score of x against the state before x, then folds x in.
func (e *EWMA) Update(x, floor float64) float64 {
	if e.n == 0 {
		e.mean, e.n = x, 1
		return 0
	}
	d := x - e.mean
	sd := scaleFloor(math.Sqrt(e.vari), e.mean, floor)
	z := d / sd
	if e.n < 3 {
		z = 0
	}
	if e.clip > 0 && e.n >= 3 && math.Abs(d) > e.clip*sd {
		d = math.Copysign(e.clip*sd, d)
	}
	e.mean += e.alpha * d
	e.vari = (1 - e.alpha) * (e.vari + e.alpha*d*d)
	if e.n < math.MaxUint32 {
		e.n++
	}
	return z
}

// Mean and Std expose the current baseline.
func (e *EWMA) Mean() float64 { return e.mean }

// Std is the current standard deviation estimate.
func (e *EWMA) Std() float64 { return math.Sqrt(e.vari) }
