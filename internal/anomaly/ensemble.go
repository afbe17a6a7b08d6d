package anomaly

import (
	"errors"
	"math"
)

// Combine says how the detectors' |z| are merged into one statistic.
type Combine uint8

const (
	// CombineMean averages the detectors that are warm: a point must look
	// odd to most baselines, which keeps false alarms down.
	CombineMean Combine = iota
	// CombineMax takes the most surprised detector: earlier, noisier.
	CombineMax
)

// Config selects the ensemble's detectors and their parameters.
type Config struct {
	RobustWindow  int     // robust z window (0: robust z off)
	EWMAAlpha     float64 // EWMA smoothing (0: EWMA off)
	Seasonal      bool
	SeasonalCfg   SeasonalConfig
	Combine       Combine
	SPOTQ         float64 // target false-alarm probability
	SPOTLevel     float64 // initial threshold quantile
	SPOTInit      int     // calibration points
	SPOTPeaks     int     // peaks kept
	LikelihoodLag float64 // smoothing of the short-term score average (0,1]
	// Refractory is the per-point decay of the mute an alarm puts on the
	// series' later scores (0: no mute). A level shift keeps every baseline
	// surprised until it adapts; one alarm says it, the next dozen are noise.
	Refractory float64
	// KNNWindow is the KNN detector's ring of past values (0: KNN off);
	// KNNDim values make a lag vector, KNNK neighbours are averaged, and
	// KNNWeight is its weight in the mean against the other detectors' 1.
	KNNWindow, KNNDim, KNNK int
	KNNWeight               float64
	// RestPeriod (points, 0: off) reports a point's score only when its raw
	// score beats every raw score of the RestPeriod points before it, and 0
	// otherwise: a burst of surprise is reported once, at its first and at
	// any larger point, whatever threshold the reader applies (NAB's KNN CAD
	// and CAD OSE rest after a detection for the same reason).
	RestPeriod int
	// NoveltyCalib (points, 0: off) switches on transition novelty (see
	// Novelty), whose quantisation range is learnt over that many first
	// points. A point that makes a step between levels never made before
	// has its SPOT tail probability multiplied by NoveltyP: the score's 0.5
	// is then p * NoveltyP <= SPOTQ for it, and p <= SPOTQ for the others.
	NoveltyCalib int
	NoveltyP     float64
}

// DefaultRobustWindow is the robust z-score's window when it is switched on.
const DefaultRobustWindow = 32

// DefaultConfig is the one configuration used for every series (and for NAB).
func DefaultConfig() Config {
	return Config{
		RobustWindow: 0,
		EWMAAlpha:    0.05,
		// Seasonal is off: it would add about 2 points on NAB (66.9 with,
		// 64.9 without), but its 200 B do not fit in the kilobyte a series
		// may use next to novelty's table. Its parameters stay for those
		// who switch it on.
		Seasonal: false,
		SeasonalCfg: SeasonalConfig{
			MinPeriod: 12, MaxPeriod: 300, Bins: 16,
			Alpha: 0.1, Beta: 0.01, Gamma: 0.3, Phi: 0.95,
		},
		Combine: CombineMean,
		// q = 1e-6, with novelty at 1e-3: a point scores 0.5 when it is a
		// one-in-a-million extreme, or a one-in-a-thousand one that also
		// makes a step never seen. At q = 1e-4 novelty doubled the false
		// alarms at 0.5 on NAB (2.3 per 1,000 points, 1.0 without it); at
		// 1e-6 they are 0.45, for nearly the same NAB score.
		SPOTQ:         1e-6,
		SPOTLevel:     0.9,
		SPOTInit:      128,
		SPOTPeaks:     32,
		LikelihoodLag: 0.3,
		Refractory:    0,
		KNNWindow:     64,
		KNNDim:        3,
		KNNK:          3,
		KNNWeight:     2,
		RestPeriod:    50,
		NoveltyCalib:  750,
		NoveltyP:      1e-3,
	}
}

// Validate reports a configuration the ensemble cannot run.
func (c Config) Validate() error {
	var errs []error
	if c.RobustWindow == 0 && c.EWMAAlpha == 0 && !c.Seasonal && c.KNNWindow == 0 {
		errs = append(errs, errors.New("no detector enabled"))
	}
	if c.RobustWindow < 0 || (c.RobustWindow > 0 && c.RobustWindow < 3) {
		errs = append(errs, errors.New("robust window must be 0 (off) or >= 3"))
	}
	if c.EWMAAlpha < 0 || c.EWMAAlpha >= 1 {
		errs = append(errs, errors.New("ewma alpha must be in [0,1)"))
	}
	if !(c.SPOTQ > 0 && c.SPOTQ < 1) {
		errs = append(errs, errors.New("spot q must be in (0,1)"))
	}
	if !(c.SPOTLevel > 0 && c.SPOTLevel < 1) {
		errs = append(errs, errors.New("spot level must be in (0,1)"))
	}
	if c.SPOTInit < 10 || c.SPOTPeaks < 2 {
		errs = append(errs, errors.New("spot needs init >= 10 points and >= 2 peaks"))
	}
	if c.Seasonal && c.SeasonalCfg.Period == 0 && c.SeasonalCfg.MaxPeriod < 2 {
		errs = append(errs, errors.New("seasonal needs a period or max period >= 2"))
	}
	if c.Refractory < 0 || c.Refractory >= 1 {
		errs = append(errs, errors.New("refractory decay must be in [0,1)"))
	}
	if c.KNNWindow < 0 || (c.KNNWindow > 0 && (c.KNNDim < 1 || c.KNNDim > 16 || c.KNNK < 1 || c.KNNK > maxKNNK || c.KNNWindow < 3*c.KNNDim || c.KNNWindow > maxKNNWindow || !(c.KNNWeight > 0))) {
		errs = append(errs, errors.New("knn needs window 0 (off) or 3*dim..1024, dim 1..16, k 1..8 and weight > 0"))
	}
	if c.RestPeriod < 0 || c.RestPeriod > 4096 {
		errs = append(errs, errors.New("rest period must be in [0,4096] points"))
	}
	if c.NoveltyCalib < 0 || c.NoveltyCalib > math.MaxInt32 || (c.NoveltyCalib > 0 && !(c.NoveltyP > 0 && c.NoveltyP < 1)) {
		errs = append(errs, errors.New("novelty needs calibration 0 (off) or > 0 points and a probability in (0,1)"))
	}
	if !(c.LikelihoodLag > 0 && c.LikelihoodLag <= 1) {
		errs = append(errs, errors.New("likelihood lag must be in (0,1]"))
	}
	return errors.Join(errs...)
}

// Result is the ensemble's verdict on one point.
type Result struct {
	Stat       float64 // combined |z|
	Raw        float64 // in [0,1]: Stat's SPOT tail probability (times NoveltyP at a novel step) as a score, before the rest period and mute
	Score      float64 // in [0,1]; 0.5 is the SPOT threshold at false-alarm probability q (novelty included: p * NoveltyP <= q)
	Likelihood float64 // in [0,1]: how unusual the recent scores are against their own history
	Alarm      bool    // Stat beyond SPOT's z_q
}

// Ensemble is the per-series detector.
type Ensemble struct {
	robust   *RobustZ
	ewma     *EWMA
	seasonal *Seasonal
	knn      *KNN
	knnW     float64
	novelty  *Novelty
	novL     float64 // -ln NoveltyP
	spot     *SPOT
	rest     []uint8 // raw scores of the last RestPeriod points, quantised (ring)
	lq       float64
	lag      float64
	short    float64 // short-term average of scores
	lm, lv   float64 // long-term mean and variance of scores
	prev     float64 // previous value
	noise    float64 // slow average of |x - prev|: the series' own step size
	mute     float64 // in [0,1]: how much of the score the last alarm still hides
	muteAt   float64 // raw score of the alarm that set the mute
	decay    float64
	// Small fields last and together, so that they share one word: the
	// state budget is a kilobyte per series.
	n       uint32
	restPos uint16
	restMax uint8 // max of rest
	combine Combine
}

// New returns an ensemble for one series. The config must be valid.
func New(c Config) *Ensemble {
	e := &Ensemble{combine: c.Combine, lq: -math.Log(c.SPOTQ), lag: c.LikelihoodLag, decay: c.Refractory}
	if c.RobustWindow > 0 {
		e.robust = NewRobustZ(c.RobustWindow)
	}
	if c.EWMAAlpha > 0 {
		e.ewma = NewEWMA(c.EWMAAlpha, 4)
	}
	if c.Seasonal {
		e.seasonal = NewSeasonal(c.SeasonalCfg)
	}
	if c.KNNWindow > 0 {
		e.knn, e.knnW = NewKNN(c.KNNWindow, c.KNNDim, c.KNNK), c.KNNWeight
	}
	if c.NoveltyCalib > 0 {
		e.novelty, e.novL = NewNovelty(c.NoveltyCalib), -math.Log(c.NoveltyP)
	}
	if c.RestPeriod > 0 {
		e.rest = make([]uint8, 0, c.RestPeriod)
	}
	e.spot = NewSPOT(c.SPOTQ, c.SPOTLevel, c.SPOTInit, c.SPOTPeaks)
	// The statistic is a |z|: below 1 nothing is extreme, and a tail scale
	// under a quarter sigma is an artefact of a flat calibration stretch.
	e.spot.MinT, e.spot.MinSigma = 1, 0.25
	return e
}

// Update scores x (NaN and Inf are ignored: a gap is not an anomaly).
func (e *Ensemble) Update(x float64) Result {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return Result{}
	}
	// A scale floor from the series' typical step keeps a window that
	// happens to be constant (MAD 0, variance 0) from scoring the next small
	// change as a million-sigma event.
	if e.n > 0 {
		a := 0.01
		if e.n < 100 {
			a = 1 / float64(e.n)
		}
		e.noise += a * (math.Abs(x-e.prev) - e.noise)
	}
	e.prev = x
	floor := 0.5 * e.noise
	var sum, mx, k float64
	// The builtin max and min here and in the detectors, not math.Max and
	// math.Min: on amd64 those are assembly calls, never inlined, and they
	// ran several times a point.
	add := func(z, w float64) {
		z = math.Abs(z)
		sum += w * z
		mx = max(mx, z)
		k += w
	}
	if e.knn != nil {
		// The KNN distance is scaled by the step size itself, not the floor:
		// it is a distance between shapes, and the step is its natural unit.
		add(e.knn.Update(x, e.noise), e.knnW)
	}
	if e.robust != nil {
		add(e.robust.Update(x, floor), 1)
	}
	if e.ewma != nil {
		add(e.ewma.Update(x, floor), 1)
	}
	if e.seasonal != nil {
		add(e.seasonal.Update(x, floor), 1)
	}
	stat := mx
	if e.combine == CombineMean {
		stat = sum / k
	}
	p := e.spot.Update(stat)
	// Most points lie below SPOT's initial threshold (p = 1, l = 0): the
	// logarithm is skipped for them.
	var l float64
	if p < 1 {
		l = -math.Log(max(p, 1e-300))
	}
	// A step between levels never seen before is evidence of its own: it
	// multiplies the point's tail probability by NoveltyP. It waits for
	// SPOT's calibration, as the rest of the score does: every step is new
	// at first.
	if e.novelty != nil && e.novelty.Update(x) && e.spot.Ready() {
		l += e.novL
	}
	raw := l / (l + e.lq)
	// A point more surprising than the alarm that set the mute still counts:
	// a second, larger anomaly inside the mute is news.
	score := raw * (1 - e.mute)
	if raw > e.muteAt {
		score = raw
	}
	if e.rest != nil && !e.restUpdate(raw) {
		score = 0
	}
	r := Result{Stat: stat, Raw: raw, Score: score, Alarm: e.spot.Ready() && stat > e.spot.Threshold() && score >= 0.5}
	e.mute *= e.decay
	if score >= 0.5 {
		e.mute, e.muteAt = 1, raw
	}
	r.Likelihood = e.likelihood(raw)
	return r
}

// restUpdate adds raw to the rest ring and reports whether it beats every
// raw score before it in the ring. The ring holds raw scores quantised to
// 8 bits (1/255: a point within 0.004 of an earlier one in the same burst is
// not news), and its maximum is kept so that only evicting the maximum costs
// a scan.
func (e *Ensemble) restUpdate(raw float64) bool {
	q := uint8(math.Round(raw * 255))
	news := q > e.restMax
	if len(e.rest) < cap(e.rest) {
		e.rest = append(e.rest, q)
		e.restMax = max(e.restMax, q)
		return news
	}
	old := e.rest[e.restPos]
	e.rest[e.restPos] = q
	e.restPos++
	if int(e.restPos) == len(e.rest) {
		e.restPos = 0
	}
	switch {
	case q >= e.restMax:
		e.restMax = q
	case old == e.restMax:
		e.restMax = 0
		for _, v := range e.rest {
			e.restMax = max(e.restMax, v)
		}
	}
	return news
}

// likelihood follows Numenta's anomaly likelihood: a short-term average of the
// score compared with the long-run distribution of scores, so a series that is
// always noisy stops alarming and a change in its noise does.
func (e *Ensemble) likelihood(s float64) float64 {
	e.short += e.lag * (s - e.short)
	e.n++
	a := 1 / float64(e.n)
	if a < 1e-3 {
		a = 1e-3
	}
	d := s - e.lm
	e.lm += a * d
	e.lv = (1 - a) * (e.lv + a*d*d)
	if e.n < 32 {
		return 0.5
	}
	z := (e.short - e.lm) / max(math.Sqrt(e.lv), 0.05)
	return normalCDF(z)
}

// normalCDF is the standard normal CDF, interpolated (cubic Hermite, with
// the density as the slope) from a table built once: math.Erfc took a
// sixth of Update's time, and the interpolation is within 1e-8 of it.
func normalCDF(z float64) float64 {
	t := (z + normTabMax) * normTabPerUnit
	if !(t >= 0) { // also NaN
		return 0
	}
	if t >= float64(len(normTab)-1) {
		return 1
	}
	i := int(t)
	f := t - float64(i)
	a, b := normTab[i], normTab[i+1]
	f2 := f * f
	f3 := f2 * f
	const h = 1.0 / normTabPerUnit
	return (2*f3-3*f2+1)*a[0] + (f3-2*f2+f)*h*a[1] + (-2*f3+3*f2)*b[0] + (f3-f2)*h*b[1]
}

const (
	normTabMax     = 9  // beyond, the CDF is 0 or 1 to double precision's 1e-19
	normTabPerUnit = 32 // points per unit of z
)

// normTab holds the CDF and the density at z = -normTabMax + i/normTabPerUnit.
var normTab = func() (t [2*normTabMax*normTabPerUnit + 1][2]float64) {
	for i := range t {
		z := -normTabMax + float64(i)/normTabPerUnit
		t[i] = [2]float64{0.5 * math.Erfc(-z/math.Sqrt2), math.Exp(-z*z/2) / math.Sqrt(2*math.Pi)}
	}
	return t
}()
