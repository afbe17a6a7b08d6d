package anomaly

import "math"

// Seasonal is an additive Holt-Winters baseline (level, damped trend, season)
// whose seasonal profile is kept in at most `bins` buckets per period rather
// than one per sample: a daily period at a 10 s interval would otherwise cost
// 8,640 floats per series. The period is given, or detected once by
// autocorrelation over a warm-up buffer that is released afterwards.
type Seasonal struct {
	alpha, beta, gamma, phi float64
	level, trend            float64
	season                  []float32
	resVar                  float64
	period                  int // samples per period; 0 until known, 1 = none
	t                       uint64
	warm                    []float32 // period detection buffer, nil once done
	minP, maxP              int
}

// SeasonalConfig parameterises Seasonal. Period 0 means detect within [MinPeriod, MaxPeriod].
type SeasonalConfig struct {
	Period, MinPeriod, MaxPeriod, Bins int
	Alpha, Beta, Gamma, Phi            float64
}

// NewSeasonal returns a seasonal baseline.
func NewSeasonal(c SeasonalConfig) *Seasonal {
	s := &Seasonal{alpha: c.Alpha, beta: c.Beta, gamma: c.Gamma, phi: c.Phi, minP: c.MinPeriod, maxP: c.MaxPeriod}
	if c.Bins <= 0 {
		c.Bins = 48
	}
	s.season = make([]float32, 0, c.Bins)
	if c.Period > 0 {
		s.setPeriod(c.Period)
	} else if s.maxP >= 2 {
		s.warm = make([]float32, 0, 2*s.maxP+s.maxP/2)
	} else {
		s.setPeriod(1)
	}
	return s
}

// Period returns the period in samples (1: no season found, 0: still detecting).
func (s *Seasonal) Period() int { return s.period }

func (s *Seasonal) setPeriod(p int) {
	s.period = p
	n := cap(s.season)
	if p < n {
		n = p
	}
	s.season = s.season[:n]
}

func (s *Seasonal) bin() int {
	if s.period <= 1 {
		return 0
	}
	return int(s.t%uint64(s.period)) * len(s.season) / s.period
}

// Update returns the signed z-score of x's residual against the one-step forecast.
func (s *Seasonal) Update(x, floor float64) float64 {
	if s.warm != nil {
		s.warm = append(s.warm, float32(x))
		if len(s.warm) == cap(s.warm) {
			s.setPeriod(detectPeriod(s.warm, s.minP, s.maxP))
			s.warm = nil
		}
	}
	if s.t == 0 {
		s.level = x
		s.t++
		return 0
	}
	b := s.bin()
	var sea float64
	if s.period > 1 {
		sea = float64(s.season[b])
	}
	f := s.level + s.phi*s.trend + sea
	r := x - f
	z := 0.0
	if s.t > 8 {
		z = r / scaleFloor(math.Sqrt(s.resVar), s.level, floor)
	}
	// Winsorise the residual the state learns from (as in EWMA) so a spike
	// does not bend the baseline.
	sd := math.Sqrt(s.resVar)
	lr := r
	if s.t > 8 && math.Abs(lr) > 4*sd {
		lr = math.Copysign(4*sd, lr)
	}
	prevLevel := s.level
	s.level = prevLevel + s.phi*s.trend + s.alpha*lr
	s.trend = s.phi*s.trend + s.beta*(s.level-prevLevel-s.phi*s.trend)
	if s.period > 1 {
		s.season[b] += float32(s.gamma * (1 - s.alpha) * lr)
	}
	a := 0.02
	if s.t < 50 {
		a = 1 / float64(s.t)
	}
	s.resVar = (1-a)*s.resVar + a*lr*lr
	s.t++
	return z
}

// detectPeriod picks the lag with the highest autocorrelation in [minP,maxP]
// that is also a local maximum; 1 when no lag correlates above 0.3.
func detectPeriod(v []float32, minP, maxP int) int {
	n := len(v)
	if minP < 2 {
		minP = 2
	}
	var mean float64
	for _, x := range v {
		mean += float64(x)
	}
	mean /= float64(n)
	var den float64
	for _, x := range v {
		d := float64(x) - mean
		den += d * d
	}
	if den == 0 {
		return 1
	}
	acf := func(lag int) float64 {
		var num float64
		for i := lag; i < n; i++ {
			num += (float64(v[i]) - mean) * (float64(v[i-lag]) - mean)
		}
		return num / den * float64(n) / float64(n-lag)
	}
	best, bestV := 1, 0.3
	prev, cur := acf(minP-1), acf(minP)
	for lag := minP; lag <= maxP && lag < n-1; lag++ {
		next := acf(lag + 1)
		if cur > bestV && cur >= prev && cur >= next {
			best, bestV = lag, cur
		}
		prev, cur = cur, next
	}
	return best
}
