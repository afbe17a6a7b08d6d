package anomaly

import (
	"math"
	"testing"
)

func TestNewScorer(t *testing.T) {
	for _, name := range DetectorNames() {
		s, err := NewScorer(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var spike float64
		for i := range 600 {
			x := 10 + math.Sin(float64(i)/5) + 0.05*math.Sin(float64(i)*7.3)
			if i == 500 {
				x = 40
			}
			v := s(x)
			if v < 0 || v > 1 || math.IsNaN(v) {
				t.Fatalf("%s: score %v at %d outside [0,1]", name, v, i)
			}
			if i == 500 {
				spike = v
			}
		}
		if spike < 0.5 {
			t.Errorf("%s: spike scored %.3f, want >= 0.5", name, spike)
		}
		if v := s(math.NaN()); v != 0 {
			t.Errorf("%s: NaN scored %v", name, v)
		}
	}
	if _, err := NewScorer("isolationforest"); err == nil {
		t.Error("unknown detector accepted")
	}
}

// TestNewScorerEnsemble checks the named ensemble is the default one.
func TestNewScorerEnsemble(t *testing.T) {
	s, err := NewScorer("ensemble")
	if err != nil {
		t.Fatal(err)
	}
	e := New(DefaultConfig())
	for i := range 400 {
		x := math.Sin(float64(i) / 3)
		if a, b := s(x), e.Update(x).Score; a != b {
			t.Fatalf("point %d: %v != %v", i, a, b)
		}
	}
}
