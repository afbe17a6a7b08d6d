package anomaly

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"unsafe"
)

func TestRobustZMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, w := range []int{3, 4, 7, 32} {
		r := NewRobustZ(w)
		var hist []float64
		for i := 0; i < 500; i++ {
			x := math.Round(rng.NormFloat64()*10) / 2 // ties and repeats on purpose
			got := r.Update(x, 0)
			if len(hist) >= 3 {
				win := hist
				if len(win) > w {
					win = win[len(win)-w:]
				}
				med, mad := medMAD(win)
				want := (x - med) / scaleFloor(madToSigma*mad, med, 0)
				if math.Abs(got-want) > 1e-6*math.Max(1, math.Abs(want)) {
					t.Fatalf("w=%d i=%d: z=%v want %v", w, i, got, want)
				}
			}
			hist = append(hist, x)
		}
	}
}

func medMAD(v []float64) (float64, float64) {
	med := median(v)
	d := make([]float64, len(v))
	for i, x := range v {
		d[i] = math.Abs(x - med)
	}
	return med, median(d)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func TestEWMATracksMeanAndFlagsStep(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	e := NewEWMA(0.05, 4)
	for i := 0; i < 2000; i++ {
		e.Update(10+rng.NormFloat64(), 0)
	}
	if math.Abs(e.Mean()-10) > 0.5 || math.Abs(e.Std()-1) > 0.3 {
		t.Fatalf("mean %v std %v, want about 10 and 1", e.Mean(), e.Std())
	}
	if z := e.Update(20, 0); z < 6 {
		t.Fatalf("step of 10 sigma scored z=%v", z)
	}
}

func TestSeasonalDetectsPeriodAndLearnsShape(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	s := NewSeasonal(SeasonalConfig{MinPeriod: 10, MaxPeriod: 100, Bins: 48, Alpha: 0.1, Beta: 0.01, Gamma: 0.3, Phi: 0.95})
	var sumZ float64
	for i := 0; i < 3000; i++ {
		x := 50 + 20*math.Sin(2*math.Pi*float64(i)/60) + rng.NormFloat64()
		z := s.Update(x, 0)
		if i >= 2500 {
			sumZ += math.Abs(z)
		}
	}
	if s.Period() != 60 {
		t.Fatalf("period %d, want 60", s.Period())
	}
	if m := sumZ / 500; m > 2 {
		t.Fatalf("mean |z| on a learnt seasonal series %.2f, want < 2", m)
	}
	// The same value at the trough is ordinary at the crest's phase only.
	if z := s.Update(50-20+0, 0); math.Abs(z) < 4 {
		t.Fatalf("a trough value at the crest's phase scored z=%v", z)
	}
}

func TestSPOTFalseAlarmRateNearQ(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const q = 1e-3
	s := NewSPOT(q, 0.98, 2000, 256)
	var alarms, n int
	for i := 0; i < 200000; i++ {
		x := rng.ExpFloat64()
		if s.Ready() {
			n++
			if x > s.Threshold() {
				alarms++
			}
		}
		s.Update(x)
	}
	rate := float64(alarms) / float64(n)
	if rate < q/4 || rate > q*4 {
		t.Fatalf("false-alarm rate %.2e on exponential data, want near q=%.0e", rate, q)
	}
	// The exponential's true q-quantile is ln(1/q).
	if th := s.Threshold(); math.Abs(th-math.Log(1/q)) > 1.5 {
		t.Fatalf("threshold %.2f, want about %.2f", th, math.Log(1/q))
	}
}

func TestEnsembleFlagsSpikeNotNoise(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	e := New(DefaultConfig())
	var noiseAlarms int
	for i := 0; i < 5000; i++ {
		r := e.Update(100 + rng.NormFloat64())
		if r.Score < 0 || r.Score > 1 || r.Likelihood < 0 || r.Likelihood > 1 {
			t.Fatalf("score %v likelihood %v outside [0,1]", r.Score, r.Likelihood)
		}
		if r.Alarm {
			noiseAlarms++
		}
	}
	if noiseAlarms > 5 {
		t.Fatalf("%d alarms on 5000 points of Gaussian noise", noiseAlarms)
	}
	if r := e.Update(130); !r.Alarm || r.Score < 0.5 {
		t.Fatalf("30-sigma spike: %+v", r)
	}
	if r := e.Update(math.NaN()); r.Score != 0 {
		t.Fatalf("NaN scored %v", r.Score)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := DefaultConfig()
	bad.SPOTQ = 0
	bad.RobustWindow = 2
	if err := bad.Validate(); err == nil {
		t.Fatal("want errors for q=0 and window 2")
	}
}

// StateBytes estimates the steady-state heap and struct bytes of one series'
// ensemble (after warm-up buffers are released).
func StateBytes(e *Ensemble) int {
	n := int(unsafe.Sizeof(*e))
	if e.robust != nil {
		n += int(unsafe.Sizeof(*e.robust)) + 4*cap(e.robust.ring) + 4*cap(e.robust.sorted)
	}
	if e.ewma != nil {
		n += int(unsafe.Sizeof(*e.ewma))
	}
	if e.seasonal != nil {
		n += int(unsafe.Sizeof(*e.seasonal)) + 4*cap(e.seasonal.season) + 4*cap(e.seasonal.warm)
	}
	if e.knn != nil {
		n += int(unsafe.Sizeof(*e.knn)) + 4*cap(e.knn.ring)
	}
	if e.novelty != nil {
		n += int(unsafe.Sizeof(*e.novelty))
	}
	n += cap(e.rest) // uint8
	n += int(unsafe.Sizeof(*e.spot)) + 4*cap(e.spot.peaks) + 4*cap(e.spot.calib)
	return n
}

func TestStateBytesPerSeries(t *testing.T) {
	e := New(DefaultConfig())
	warm := StateBytes(e)
	for i := 0; i < 2000; i++ {
		e.Update(float64(i % 37))
	}
	steady := StateBytes(e)
	t.Logf("ensemble state per series: %d B steady, %d B while warming up (period detection and SPOT calibration buffers)", steady, warm)
	if steady > 1024 {
		t.Errorf("steady state %d B > 1 KiB", steady)
	}
	if steady >= warm {
		t.Errorf("warm-up buffers not released: %d >= %d", steady, warm)
	}
}

func BenchmarkEnsemble(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	xs := make([]float64, 4096)
	for i := range xs {
		xs[i] = 50 + 10*math.Sin(float64(i)/20) + rng.NormFloat64()
	}
	e := New(DefaultConfig())
	for _, x := range xs[:2000] {
		e.Update(x)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.Update(xs[i&4095])
	}
}

func BenchmarkDetectors(b *testing.B) {
	xs := make([]float64, 4096)
	rng := rand.New(rand.NewPCG(2, 2))
	for i := range xs {
		xs[i] = rng.NormFloat64()
	}
	b.Run("robust_w32", func(b *testing.B) {
		r := NewRobustZ(32)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			r.Update(xs[i&4095], 0)
		}
	})
	b.Run("knn_w64_d3_k3", func(b *testing.B) {
		k := NewKNN(64, 3, 3)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			k.Update(xs[i&4095], 1)
		}
	})
	b.Run("ewma", func(b *testing.B) {
		e := NewEWMA(0.05, 4)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			e.Update(xs[i&4095], 0)
		}
	})
	b.Run("seasonal", func(b *testing.B) {
		s := NewSeasonal(SeasonalConfig{Period: 288, Bins: 48, Alpha: 0.1, Beta: 0.01, Gamma: 0.3, Phi: 0.95})
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			s.Update(xs[i&4095], 0)
		}
	})
	b.Run("novelty", func(b *testing.B) {
		d := NewNovelty(750)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			d.Update(xs[i&4095])
		}
	})
	// CAD on white noise: new contexts at nearly every point, the cap
	// reached and evicting. Its cost is mostly the scan of every left part
	// per point, so a regular series is only a little cheaper.
	b.Run("cad_noise", func(b *testing.B) {
		d := NewCAD(DefaultCADConfig())
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			d.Update(xs[i&4095])
		}
	})
	b.Run("spot", func(b *testing.B) {
		s := NewSPOT(1e-4, 0.9, 128, 32)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			s.Update(math.Abs(xs[i&4095]))
		}
	})
}
