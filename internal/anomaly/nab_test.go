package anomaly

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const nabDir = "../../../shared/data/nab"

func loadNABOrSkip(t *testing.T) []NABFile {
	t.Helper()
	if _, err := os.Stat(filepath.Join(nabDir, "combined_windows.json")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("NAB data missing at %s under CI: %v", nabDir, err)
		}
		t.Skipf("NAB data not found at %s; skipping", nabDir)
	}
	files, err := LoadNAB(nabDir)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// windowedGaussian is NAB's windowed Gaussian baseline: the tail probability
// of x under a normal fitted to the last 6400 points, refitted every 100.
func windowedGaussian(v []float64) []float64 {
	const size, step = 6400, 100
	out := make([]float64, len(v))
	var win []float64
	var mean, std float64
	refit := func() {
		var s, s2 float64
		for _, x := range win {
			s += x
			s2 += x * x
		}
		n := float64(len(win))
		mean = s / n
		std = math.Sqrt(math.Max(s2/n-mean*mean, 0))
		if std == 0 {
			std = 1e-6
		}
	}
	var buf []float64
	for i, x := range v {
		if len(win) > 0 {
			out[i] = math.Erf(math.Abs(x-mean) / (std * math.Sqrt2))
		}
		if len(win) < size {
			win = append(win, x)
			refit()
			continue
		}
		buf = append(buf, x)
		if len(buf) == step {
			win = append(win[step:], buf...)
			buf = buf[:0]
			refit()
		}
	}
	return out
}

func runEnsemble(files []NABFile, c Config, pick func(Result) float64) [][]float64 {
	scores := make([][]float64, len(files))
	for i, f := range files {
		e := New(c)
		scores[i] = make([]float64, len(f.Values))
		for r, x := range f.Values {
			scores[i][r] = pick(e.Update(x))
		}
	}
	return scores
}

func reportNAB(t *testing.T, label string, files []NABFile, res NABResult) {
	t.Helper()
	cats := map[string][3]float64{} // raw, null, perfect
	for _, f := range files {
		c := strings.SplitN(f.Name, "/", 2)[0]
		v := cats[c]
		v[0] += res.ByFile[f.Name]
		v[1] -= NABStandard.FN * float64(len(f.Windows))
		v[2] += NABStandard.TP * float64(len(f.Windows))
		cats[c] = v
	}
	names := make([]string, 0, len(cats))
	for c := range cats {
		names = append(names, c)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "%-22s overall %.1f (raw %.2f, null %.2f, perfect %.2f, threshold %.4f)\n", label, res.Normalised, res.Raw, res.Null, res.Perfect, res.Threshold)
	for _, c := range names {
		v := cats[c]
		if v[2] == v[1] {
			fmt.Fprintf(&b, "    %-24s raw %.2f (no windows: false positives only)\n", c, v[0])
			continue
		}
		fmt.Fprintf(&b, "    %-24s %.1f (raw %.2f)\n", c, 100*(v[0]-v[1])/(v[2]-v[1]), v[0])
	}
	t.Log("\n" + b.String())
}

// TestNAB scores the ensemble over the NAB subset with one configuration and
// one corpus-wide threshold, next to NAB's windowed-Gaussian baseline.
func TestNAB(t *testing.T) {
	files := loadNABOrSkip(t)
	if len(files) == 0 {
		t.Fatal("no NAB files")
	}
	base := make([][]float64, len(files))
	for i, f := range files {
		base[i] = windowedGaussian(f.Values)
	}
	baseRes := ScoreNAB(files, base, NABStandard)
	reportNAB(t, "windowed Gaussian", files, baseRes)

	c := DefaultConfig()
	score := ScoreNAB(files, runEnsemble(files, c, func(r Result) float64 { return r.Score }), NABStandard)
	reportNAB(t, "ensemble score", files, score)
	lik := ScoreNAB(files, runEnsemble(files, c, func(r Result) float64 { return r.Likelihood }), NABStandard)
	reportNAB(t, "ensemble likelihood", files, lik)

	for _, d := range []struct {
		name string
		cfg  Config
	}{
		{"KNN only", only(c, "knn")},
		{"robust z only", only(c, "robust")},
		{"EWMA only", only(c, "ewma")},
		{"seasonal only", only(c, "seasonal")},
		{"without novelty", withoutNovelty()},
	} {
		r := ScoreNAB(files, runEnsemble(files, d.cfg, func(r Result) float64 { return r.Score }), NABStandard)
		t.Logf("%-22s overall %.1f", d.name, r.Normalised)
	}
	cad := ScoreNAB(files, runScorer(files, scorer("cad")), NABStandard)
	reportNAB(t, "CAD", files, cad)

	splitHalf(t, files)

	t.Logf("ensemble score / windowed Gaussian = %.2f", score.Normalised/baseRes.Normalised)
	if score.Normalised <= baseRes.Normalised {
		t.Errorf("ensemble %.1f does not beat windowed Gaussian %.1f", score.Normalised, baseRes.Normalised)
	}
	// The goal the default was chosen for: at least 60, above NAB's KNN CAD
	// (58.0 on the full corpus). A change that loses it should say so.
	for _, r := range []struct {
		name  string
		score float64
	}{{"ensemble", score.Normalised}, {"CAD", cad.Normalised}} {
		if r.score < 60 {
			t.Errorf("%s scores %.1f on NAB, below the goal of 60", r.name, r.score)
		}
	}
}

func only(c Config, d string) Config { return singleDetector(c, d) }

// scorer returns a maker of fresh scorers for a named detector.
func scorer(name string) func() Scorer {
	return func() Scorer {
		s, err := NewScorer(name)
		if err != nil {
			panic(err)
		}
		return s
	}
}

func runScorer(files []NABFile, mk func() Scorer) [][]float64 {
	scores := make([][]float64, len(files))
	for i, f := range files {
		s := mk()
		scores[i] = make([]float64, len(f.Values))
		for r, x := range f.Values {
			scores[i][r] = s(x)
		}
	}
	return scores
}

// withoutNovelty is the default before transition novelty: KNN, EWMA and
// seasonal averaged, SPOT at q = 1e-4 (NAB 52.9).
func withoutNovelty() Config {
	c := DefaultConfig()
	c.Seasonal, c.NoveltyCalib, c.SPOTQ = true, 0, 1e-4
	return c
}

// previousDefault is the default ensemble before the KNN detector and the
// rest period (robust z, EWMA and seasonal averaged, a decaying mute): kept
// as a candidate so that the held-out comparison below can prefer it.
func previousDefault() Config {
	c := withoutNovelty()
	c.RobustWindow, c.KNNWindow, c.RestPeriod, c.Refractory = DefaultRobustWindow, 0, 0, 0.97
	c.SeasonalCfg.Bins = 32
	return c
}

// splitHalf guards against tuning to the corpus: the files are split in two
// halves (alternate files in name order, so each half has every category), a
// configuration is chosen among the candidates on one half, and its score is
// reported on the other, with its own threshold chosen there as NAB does.
func splitHalf(t *testing.T, files []NABFile) {
	t.Helper()
	var halves [2][]NABFile
	for i, f := range files {
		halves[i%2] = append(halves[i%2], f)
	}
	ens := func(c Config) func() Scorer {
		return func() Scorer {
			e := New(c)
			return func(x float64) float64 { return e.Update(x).Score }
		}
	}
	withSeasonal := DefaultConfig()
	withSeasonal.Seasonal = true
	cands := []struct {
		name string
		mk   func() Scorer
	}{
		{"default", ens(DefaultConfig())},
		{"default + seasonal", ens(withSeasonal)},
		{"without novelty", ens(withoutNovelty())},
		{"knn only", ens(only(DefaultConfig(), "knn"))},
		{"previous default", ens(previousDefault())},
		{"cad", scorer("cad")},
	}
	score := func(h []NABFile, mk func() Scorer) float64 {
		return ScoreNAB(h, runScorer(h, mk), NABStandard).Normalised
	}
	for tune := range 2 {
		test := 1 - tune
		best, bestScore := 0, math.Inf(-1)
		for i, c := range cands {
			s := score(halves[tune], c.mk)
			t.Logf("half %d (%d files): %-19s %.1f", tune, len(halves[tune]), c.name, s)
			if s > bestScore {
				best, bestScore = i, s
			}
		}
		t.Logf("chosen on half %d: %s; on held-out half %d it scores %.1f (default there: %.1f)",
			tune, cands[best].name, test, score(halves[test], cands[best].mk), score(halves[test], cands[0].mk))
	}
}
