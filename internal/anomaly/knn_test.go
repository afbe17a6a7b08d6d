package anomaly

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// knnBrute is the detector's definition written plainly (a window of the
// values before x, every non-overlapping earlier lag vector, a full sort),
// so that the optimised scan can be held to it.
func knnBrute(hist []float32, x float32, window, dim, k int, scale float64) float64 {
	if len(hist) < window {
		return 0
	}
	w := hist[len(hist)-window:]
	q := append(append([]float32(nil), w[window-dim+1:]...), x)
	var ds []float32
	for end := window - dim; end >= dim-1; end-- { // candidate's last value: w[end]
		var d float32
		for j := range dim {
			e := q[j] - w[end-dim+1+j]
			d += e * e
		}
		ds = append(ds, d)
	}
	slices.Sort(ds)
	var sum float64
	for i := range k {
		sum += math.Sqrt(float64(ds[i]) / float64(dim))
	}
	return sum / float64(k) / math.Max(scale, 1e-9)
}

func TestKNNMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	gens := map[string]func(i int) float64{
		"noise":   func(int) float64 { return rng.NormFloat64() },
		"sine":    func(i int) float64 { return 50 + 10*math.Sin(float64(i)/7) + 0.1*rng.NormFloat64() },
		"steps":   func(i int) float64 { return float64((i / 17) % 4) },
		"repeats": func(i int) float64 { return math.Round(rng.NormFloat64()) },
	}
	for name, gen := range gens {
		for _, p := range [][3]int{{64, 3, 3}, {32, 3, 1}, {48, 3, 8}, {40, 1, 2}, {64, 2, 3}, {30, 5, 4}, {1024, 16, 8}} {
			n := NewKNN(p[0], p[1], p[2])
			var hist []float32
			for i := range 2*p[0] + 200 {
				x := gen(i)
				got := n.Update(x, 0.7)
				want := knnBrute(hist, float32(x), p[0], p[1], p[2], 0.7)
				if math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
					t.Fatalf("%s %v point %d: %v, want %v", name, p, i, got, want)
				}
				hist = append(hist, float32(x))
			}
		}
	}
}

func TestNormalCDF(t *testing.T) {
	for z := -12.0; z <= 12; z += 0.001 {
		got, want := normalCDF(z), 0.5*math.Erfc(-z/math.Sqrt2)
		if math.Abs(got-want) > 1e-8 || got < 0 || got > 1 {
			t.Fatalf("z=%v: %v, want %v", z, got, want)
		}
	}
	if normalCDF(math.NaN()) != 0 || normalCDF(math.Inf(1)) != 1 || normalCDF(math.Inf(-1)) != 0 {
		t.Fatal("NaN or infinities")
	}
}
