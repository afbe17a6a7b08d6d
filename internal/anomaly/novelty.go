package anomaly

import "math"

// Novelty flags a step between quantised levels that the series has never
// made before. It is the core of CAD OSE (Smirnov's Contextual Anomaly
// Detector, NAB's best non-HTM detector) cut down to constant memory: CAD
// OSE quantises each value to 8 levels of the series' range and scores
// mostly by how many of the contexts a point gives rise to are new; its
// first-order contexts are exactly "level a, then level b". Dropping its
// higher-order and derived contexts leaves a 32 x 32 bit table. It scores
// nothing alone: the ensemble takes a new step as evidence that multiplies
// a point's tail probability (Config.NoveltyP).
//
// The range is learnt over the first calib points (CAD OSE is handed the
// whole file's minimum and maximum, which a stream does not have) and then
// fixed, so that a level keeps its meaning and a transition learnt once
// stays learnt. Levels extend past the learnt range in steps of the same
// size, so a value beyond anything seen in calibration lands on a level of
// its own (up to noveltyBelow steps below and the rest above; further out
// is clamped to the outermost level).
type Novelty struct {
	q     levels
	seen  [noveltyLevels]uint32 // seen[a] bit b: the step a -> b has occurred
	first bool
	prev  uint8
}

const (
	// noveltyLevels is the number of levels a value can take; 32 makes a
	// row of the table one uint32.
	noveltyLevels = 32
	// noveltySteps divides the calibration range, as CAD OSE's 3 bits do.
	noveltySteps = 7
	// noveltyBelow is the number of levels kept below the learnt minimum.
	noveltyBelow = 12
)

// NewNovelty returns a detector that learns its range over calib points (>= 1).
func NewNovelty(calib int) *Novelty {
	return &Novelty{q: levels{calib: uint32(min(max(calib, 1), math.MaxInt32))}, first: true}
}

// Update reports whether x's level follows the previous point's by a step
// never seen before, and learns the step.
func (d *Novelty) Update(x float64) bool {
	lvl := d.q.level(x)
	prev := d.prev
	d.prev = lvl
	if d.first {
		d.first = false
		return false
	}
	bit := uint32(1) << lvl
	if d.seen[prev]&bit != 0 {
		return false
	}
	d.seen[prev] |= bit
	return true
}

// levels quantises values to noveltyLevels levels: noveltySteps steps span
// the range of the first calib points, noveltyBelow levels lie below its
// minimum and the rest above its maximum.
type levels struct {
	lo, hi   float64
	n, calib uint32
}

// level returns x's level and, during calibration, widens the range by x.
func (q *levels) level(x float64) uint8 {
	if q.n == 0 {
		q.lo, q.hi = x, x
	}
	// x is placed on the range before it: a new extreme during calibration
	// is then a level beyond the old ones, not the top one again.
	span := q.hi - q.lo
	if span == 0 {
		span = noveltySteps // a flat start: unit steps, as CAD OSE does
	}
	f := math.Floor((x-q.lo)/(span/noveltySteps)) + noveltyBelow
	if q.n < q.calib {
		q.lo, q.hi = min(q.lo, x), max(q.hi, x)
		q.n++
	}
	switch {
	case !(f >= 0): // NaN too, when the range overflows
		return 0
	case f >= noveltyLevels-1:
		return noveltyLevels - 1
	}
	return uint8(f)
}
