package anomaly

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

func TestNoveltyFlagsNewStepsOnce(t *testing.T) {
	d := NewNovelty(100)
	square := func(i int) float64 { return float64((i / 10) % 2 * 10) } // 0 x10, 10 x10, ...
	var flagged int
	for i := range 100 {
		if d.Update(square(i)) {
			flagged++
		}
	}
	// Calibration sees 0 -> 0, 0 -> 10 (a new extreme: a level above),
	// 10 -> 10, 10 -> 0; the first 10 -> 10 again at its calibrated level.
	if flagged == 0 || flagged > 6 {
		t.Fatalf("%d novel steps in calibration of a square wave", flagged)
	}
	for i := 100; i < 1000; i++ {
		if d.Update(square(i)) {
			t.Fatalf("point %d of a learnt square wave is novel", i)
		}
	}
	if !d.Update(30) {
		t.Fatal("a jump to a level never seen is not novel")
	}
	if !d.Update(0) || d.Update(10) || d.Update(30) {
		t.Fatal("a step is novel once, then learnt")
	}
	for _, x := range []float64{math.MaxFloat64, -math.MaxFloat64, 1e300, -1e300} {
		d.Update(x) // extremes overflow the range arithmetic: no panic
	}
}

// checkCAD verifies CAD's bookkeeping: the cap holds, the indexes agree with
// the slots, and every live context belongs to a live left part.
func checkCAD(t *testing.T, d *CAD) {
	t.Helper()
	if d.liveCtxs > d.c.MaxContexts {
		t.Fatalf("%d contexts, cap %d", d.liveCtxs, d.c.MaxContexts)
	}
	var liveC, liveL int
	for i, c := range d.ctxs {
		if !c.live {
			continue
		}
		liveC++
		if got, ok := d.ctxByKey[uint64(c.left)<<32|uint64(c.right)]; !ok || got != int32(i) {
			t.Fatalf("context %d not indexed", i)
		}
		l := d.lefts[c.left]
		if !l.live {
			t.Fatalf("context %d on dead left part %d", i, c.left)
		}
	}
	for i, l := range d.lefts {
		if !l.live {
			continue
		}
		liveL++
		if len(l.ctxs) == 0 {
			t.Fatalf("left part %d opens no context", i)
		}
		for _, ci := range l.ctxs {
			if !d.ctxs[ci].live || d.ctxs[ci].left != int32(i) {
				t.Fatalf("left part %d lists context %d that is not its own", i, ci)
			}
		}
	}
	if liveC != d.liveCtxs || len(d.ctxByKey) != liveC || len(d.leftByKey) != liveL {
		t.Fatalf("%d live contexts (count %d, index %d), %d live left parts (index %d)", liveC, d.liveCtxs, len(d.ctxByKey), liveL, len(d.leftByKey))
	}
}

func TestCADMemoryStaysCapped(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, capN := range []int{2, 16, 200} {
		c := DefaultCADConfig()
		c.MaxContexts, c.Calib = capN, 100
		d := NewCAD(c)
		for i := range 3000 {
			x := rng.NormFloat64() // the worst case: nearly every point is new
			if i%500 == 499 {
				checkCAD(t, d)
			}
			if s := d.Update(x); s < 0 || s > 1 || math.IsNaN(s) {
				t.Fatalf("cap %d point %d: score %v", capN, i, s)
			}
		}
		checkCAD(t, d)
		if d.Contexts() != capN {
			t.Errorf("cap %d: %d contexts after 3000 noisy points", capN, d.Contexts())
		}
	}
}

func TestCADLearnsAPatternAndFlagsABreak(t *testing.T) {
	d := NewCAD(DefaultCADConfig())
	pattern := []float64{0, 2, 5, 9, 5, 2}
	var late float64
	for i := range 3000 {
		s := d.Update(pattern[i%len(pattern)])
		if i >= 2000 {
			late = max(late, s)
		}
	}
	if late != 0 {
		t.Fatalf("a learnt repeating pattern still scores up to %v", late)
	}
	checkCAD(t, d)
	if s := d.Update(9); s < 0.5 { // 9 where 0 was due, after 2 (… 5, 2, 9)
		t.Fatalf("a break in the pattern scored %v", s)
	}
	if d.Update(math.NaN()) != 0 || d.Update(math.Inf(1)) != 0 {
		t.Fatal("NaN or Inf scored")
	}
}

// TestCADStateBytes measures CAD's heap per series on NAB (the cap bounds
// it; CAD is not in the default ensemble for this reason).
func TestCADStateBytes(t *testing.T) {
	files := loadNABOrSkip(t)
	var worst, sum uint64
	for _, f := range files {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		d := NewCAD(DefaultCADConfig())
		for _, x := range f.Values {
			d.Update(x)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		b := m1.HeapAlloc - min(m0.HeapAlloc, m1.HeapAlloc)
		worst, sum = max(worst, b), sum+b
		runtime.KeepAlive(d)
	}
	t.Logf("CAD state per series on NAB (cap %d contexts): mean %d KiB, max %d KiB", DefaultCADConfig().MaxContexts, sum/uint64(len(files))/1024, worst/1024)
	if worst > 1<<20 {
		t.Errorf("CAD holds %d KiB for one series", worst/1024)
	}
}
