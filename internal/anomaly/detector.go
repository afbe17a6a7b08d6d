package anomaly

import (
	"fmt"
	"math"
	"strings"
)

// DetectorNames lists the names NewScorer accepts, the default first.
func DetectorNames() []string {
	return []string{"ensemble", "knn", "robust", "ewma", "seasonal", "spot", "cad"}
}

// Scorer scores one series point by point: each call returns the point's
// anomaly score in [0,1].
type Scorer func(x float64) float64

// NewScorer returns a fresh per-series scorer for a named detector, all with
// DefaultConfig's parameters: "ensemble" (the default ensemble), "knn",
// "robust", "ewma" and "seasonal" (the ensemble with only that baseline,
// still thresholded by SPOT, without transition novelty and at singleQ),
// "spot" (DSPOT on the values themselves, both tails, at singleQ) and "cad"
// (CAD with DefaultCADConfig).
func NewScorer(name string) (Scorer, error) {
	c := DefaultConfig()
	switch name {
	case "ensemble":
	case "knn", "robust", "ewma", "seasonal":
		c = singleDetector(c, name)
	case "spot":
		c.SPOTQ = singleQ
		return newRawSPOT(c), nil
	case "cad":
		d := NewCAD(DefaultCADConfig())
		return func(x float64) float64 { return d.Update(x) + 0 }, nil
	default:
		return nil, fmt.Errorf("unknown detector %q (want one of %s)", name, strings.Join(DetectorNames(), ", "))
	}
	e := New(c)
	return func(x float64) float64 { return e.Update(x).Score + 0 }, nil // + 0: no -0 in the output
}

// singleDetector keeps only detector d of c, switched on with its default
// parameters (the robust z-score and seasonal are off in the default
// ensemble: see DefaultConfig), and keeps SPOT (at singleQ) and the rest
// period; novelty is off.
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
	c.Seasonal = d == "seasonal"
	c.NoveltyCalib, c.SPOTQ = 0, singleQ
	return c
}

// singleQ is SPOT's false-alarm probability for a detector scored alone.
// DefaultConfig's stricter q is set against novelty's evidence; without
// novelty, a lone detector's 0.5 stays where it was (a clear spike reaches
// it, which at 1e-6 only some do).
const singleQ = 1e-4

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
		r := (x - sum/float64(len(ring))) / max(step, 1e-12)
		p := min(up.Update(r), down.Update(-r))
		// Unlike the paper, alarms update the local mean too: after a level
		// shift the residual would otherwise stay extreme for good.
		sum += x - ring[next]
		ring[next] = x
		next = (next + 1) % len(ring)
		l := -math.Log(max(p, 1e-300))
		return l/(l+lq) + 0
	}
}

// dspotDepth is DSPOT's window for the local mean.
const dspotDepth = 32
