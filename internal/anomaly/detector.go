package anomaly

import (
	"fmt"
	"math"
	"strings"
)

// DetectorNames lists the names NewScorer accepts, the default first.
func DetectorNames() []string {
	return []string{"ensemble", "knn", "robust", "ewma", "seasonal", "spot"}
}

// Scorer scores one series point by point: each call returns the point's
// anomaly score in [0,1].
type Scorer func(x float64) float64

// NewScorer returns a fresh per-series scorer for a named detector, all with
// DefaultConfig's parameters: "ensemble" (the default ensemble), "robust",
// "ewma" and "seasonal" (the ensemble with only that baseline, still
// thresholded by SPOT) and "spot" (DSPOT on the values themselves, both tails).
func NewScorer(name string) (Scorer, error) {
	c := DefaultConfig()
	switch name {
	case "ensemble":
	case "knn", "robust", "ewma", "seasonal":
		c = singleDetector(c, name)
	case "spot":
		return newRawSPOT(c), nil
	default:
		return nil, fmt.Errorf("unknown detector %q (want one of %s)", name, strings.Join(DetectorNames(), ", "))
	}
	e := New(c)
	return func(x float64) float64 { return e.Update(x).Score + 0 }, nil // + 0: no -0 in the output
}

// singleDetector keeps only detector d of c, switched on with its default
// parameters (the robust z-score is off in the default ensemble: see
// DefaultConfig), and keeps SPOT and the rest period.
func singleDetector(c Config, d string) Config {
	c.RobustWindow = 0
	if d == "robust" {
		c.RobustWindow = DefaultRobustWindow
	}
	if d != "knn" {
		c.KNNWindow = 0
	}
	if d != "ewma" {
		c.EWMAAlpha = 0
	}
	if d != "seasonal" {
		c.Seasonal = false
	}
	return c
}

// newRawSPOT is DSPOT (Siffer et al., KDD 2017, section 4.2): SPOT on the
// drift-free residual x - (mean of the last dspotDepth values), scaled by the
// series' typical step; an upper SPOT
// on the residual and one on its negation. The score maps the smaller tail
// probability p to l/(l+lq), l = -ln p, so 0.5 is the threshold at
// false-alarm probability q.
func newRawSPOT(c Config) Scorer {
	up := NewSPOT(c.SPOTQ, c.SPOTLevel, c.SPOTInit, c.SPOTPeaks)
	down := NewSPOT(c.SPOTQ, c.SPOTLevel, c.SPOTInit, c.SPOTPeaks)
	lq := -math.Log(c.SPOTQ)
	// The residual is measured in units of the series' typical step (a slow
	// average of |x - prev|), so SPOT's floors (MinT, MinSigma, as in the
	// ensemble) keep a flat calibration stretch from making every later
	// wiggle an alarm.
	up.MinT, up.MinSigma, down.MinT, down.MinSigma = 1, 0.25, 1, 0.25
	ring := make([]float64, 0, dspotDepth)
	var sum, prev, step float64
	var next, n int
	return func(x float64) float64 {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0
		}
		if n > 0 {
			a := 0.01
			if n < 100 {
				a = 1 / float64(n)
			}
			step += a * (math.Abs(x-prev) - step)
		}
		prev = x
		n++
		if len(ring) < cap(ring) {
			ring = append(ring, x)
			sum += x
			return 0
		}
		r := (x - sum/float64(len(ring))) / math.Max(step, 1e-12)
		p := math.Min(up.Update(r), down.Update(-r))
		// Unlike the paper, alarms update the local mean too: after a level
		// shift the residual would otherwise stay extreme for good.
		sum += x - ring[next]
		ring[next] = x
		next = (next + 1) % len(ring)
		l := -math.Log(math.Max(p, 1e-300))
		return l/(l+lq) + 0
	}
}

// dspotDepth is DSPOT's window for the local mean.
const dspotDepth = 32
