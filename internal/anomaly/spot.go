package anomaly

import (
	"math"
	"sort"
)

// SPOT sets an extreme-value threshold for a target false-alarm probability q
// (Siffer et al., KDD 2017): the initial threshold t is the `level` quantile
// of a calibration batch, excesses over t are fitted with a generalised
// Pareto distribution (method of moments), and the alarm threshold z_q is the
// GPD quantile at q. Points above z_q are alarms and are kept out of the fit;
// points between t and z_q update it.
//
// Unlike the paper, which stores every peak, only the last len(peaks) peaks are
// kept (their sums maintained incrementally), so memory stays constant and the
// tail tracks slow drift, in the spirit of DSPOT.
type SPOT struct {
	q, level   float64
	t          float64
	gamma, sig float64
	zq         float64
	n, nt      float64 // points seen, peaks seen (exceedance rate nt/n)
	peaks      []float32
	pi         int
	s1, s2     float64
	calib      []float32 // calibration batch, nil once initialised
	// MinT and MinSigma bound the initial threshold and GPD scale from below:
	// a calibration batch from a constant stretch would otherwise give t=0
	// and a zero scale, and every later wiggle would have probability 0.
	MinT, MinSigma float64
}

// NewSPOT returns a SPOT thresholder. nInit points calibrate it; k peaks are kept.
func NewSPOT(q, level float64, nInit, k int) *SPOT {
	return &SPOT{q: q, level: level, calib: make([]float32, 0, nInit), peaks: make([]float32, 0, k), zq: math.Inf(1)}
}

// Ready reports whether calibration is over.
func (s *SPOT) Ready() bool { return s.calib == nil }

// Threshold returns the current alarm threshold z_q (+Inf while calibrating).
func (s *SPOT) Threshold() float64 { return s.zq }

// Update feeds x and returns its estimated upper tail probability P(X >= x)
// (1 while calibrating or below the initial threshold t, where the GPD says nothing).
func (s *SPOT) Update(x float64) float64 {
	if s.calib != nil {
		s.calib = append(s.calib, float32(x))
		if len(s.calib) == cap(s.calib) {
			s.initialise()
		}
		return 1
	}
	p := s.tail(x)
	s.n++
	if x > s.t && x <= s.zq {
		s.addPeak(x - s.t)
		s.fit()
	}
	return p
}

func (s *SPOT) initialise() {
	c := s.calib
	sorted := append([]float32(nil), c...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	idx := int(s.level * float64(len(sorted)-1))
	s.t = max(float64(sorted[idx]), s.MinT)
	s.n = float64(len(c))
	for _, v := range c {
		if float64(v) > s.t {
			s.addPeak(float64(v) - s.t)
		}
	}
	s.calib = nil
	s.fit()
}

func (s *SPOT) addPeak(y float64) {
	s.nt++
	if len(s.peaks) < cap(s.peaks) {
		s.peaks = append(s.peaks, float32(y))
	} else {
		old := float64(s.peaks[s.pi])
		s.s1 -= old
		s.s2 -= old * old
		s.peaks[s.pi] = float32(y)
		s.pi = (s.pi + 1) % len(s.peaks)
	}
	s.s1 += y
	s.s2 += y * y
}

// fit estimates the GPD by the method of moments: O(1) from running sums,
// where Grimshaw's maximum likelihood would need the peaks and a root search.
func (s *SPOT) fit() {
	k := float64(len(s.peaks))
	if k < 2 {
		s.gamma, s.sig = 0, max(s.s1/max(k, 1), 1e-9)
	} else {
		m := s.s1 / k
		v := s.s2/k - m*m
		if v <= 1e-18 || m <= 0 {
			s.gamma, s.sig = 0, max(m, 1e-9)
		} else {
			r := m * m / v
			s.gamma = 0.5 * (1 - r)
			s.sig = 0.5 * m * (r + 1)
		}
	}
	// Bound the shape to [0, 0.5]: a few dozen peaks cannot tell a heavier
	// tail from noise, and a negative shape gives the GPD a finite end point
	// past which every value has probability 0, so scores would stop ranking.
	s.gamma = max(0, min(0.5, s.gamma))
	s.sig = max(s.sig, s.MinSigma)
	r := s.q * s.n / (s.nt + 1)
	if math.Abs(s.gamma) < 1e-6 {
		s.zq = s.t - s.sig*math.Log(r)
	} else {
		s.zq = s.t + s.sig/s.gamma*(math.Pow(r, -s.gamma)-1)
	}
}

func (s *SPOT) tail(x float64) float64 {
	if x <= s.t || s.n == 0 {
		return 1
	}
	// +1: an exceedance rate of 0 after a quiet calibration is not evidence
	// that the tail is empty.
	base := (s.nt + 1) / (s.n + 1)
	y := x - s.t
	if math.Abs(s.gamma) < 1e-6 {
		return base * math.Exp(-y/s.sig)
	}
	u := 1 + s.gamma*y/s.sig
	if u <= 0 {
		return 0
	}
	return base * math.Pow(u, -1/s.gamma)
}
