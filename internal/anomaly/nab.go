package anomaly

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// NAB scoring, standard profile, as NAB's sweeper documents it: each point
// gets a weight (inside a window: a scaled sigmoid of how early, normalised so
// the window's first point is worth TPWeight; outside: FPWeight times a scaled
// sigmoid of the distance past the previous window, -FPWeight before any);
// only a window's earliest detection counts; an undetected window costs
// FNWeight; the probation period is not scored.

// NABProfile holds NAB's application-profile weights.
type NABProfile struct{ TP, FP, FN float64 }

// NABStandard is NAB's standard profile.
var NABStandard = NABProfile{TP: 1, FP: 0.11, FN: 1}

// NABFile is one scored series.
type NABFile struct {
	Name    string // category/name.csv
	Values  []float64
	Times   []string
	Windows [][2]int // inclusive row ranges
}

// LoadNAB reads every data/<category>/<name>.csv under dir and its windows from combined_windows.json.
func LoadNAB(dir string) ([]NABFile, error) {
	return LoadNABFrom(filepath.Join(dir, "data"), filepath.Join(dir, "combined_windows.json"))
}

// LoadNABFrom reads every <category>/<name>.csv under dataDir and their
// windows from windowsFile (NAB's labels/combined_windows.json layout).
func LoadNABFrom(dataDir, windowsFile string) ([]NABFile, error) {
	raw, err := os.ReadFile(windowsFile)
	if err != nil {
		return nil, err
	}
	var wins map[string][][2]string
	if err := json.Unmarshal(raw, &wins); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(windowsFile), err)
	}
	paths, err := filepath.Glob(filepath.Join(dataDir, "*", "*.csv"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	files := make([]NABFile, 0, len(paths))
	for _, p := range paths {
		name := filepath.Base(filepath.Dir(p)) + "/" + filepath.Base(p)
		f := NABFile{Name: name}
		if err := readNABCSV(p, &f); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, w := range wins[name] {
			lo, hi := rowAt(f.Times, w[0], false), rowAt(f.Times, w[1], true)
			if hi > lo {
				f.Windows = append(f.Windows, [2]int{lo, hi - 1})
			}
		}
		files = append(files, f)
	}
	return files, nil
}

func readNABCSV(path string, f *NABFile) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = fh.Close() }() // read-only: a close error loses nothing
	return parseNABCSV(fh, f)
}

// parseNABCSV reads a NAB data file: a header row, then timestamp,value rows.
func parseNABCSV(in io.Reader, f *NABFile) error {
	r := csv.NewReader(in)
	if _, err := r.Read(); err != nil {
		return err
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(rec) < 2 {
			line, _ := r.FieldPos(0)
			return fmt.Errorf("line %d: want timestamp,value, got %d field(s)", line, len(rec))
		}
		v, err := strconv.ParseFloat(rec[1], 64)
		if err != nil {
			return err
		}
		f.Times = append(f.Times, rec[0])
		f.Values = append(f.Values, v)
	}
}

// rowAt returns the first row at or after ts, or after it when past is set
// (window timestamps carry microseconds, data rows do not; both sort lexically).
func rowAt(times []string, ts string, past bool) int {
	ts = strings.TrimSuffix(ts, ".000000")
	return sort.Search(len(times), func(i int) bool {
		if past {
			return times[i] > ts
		}
		return times[i] >= ts
	})
}

// ProbationLength is NAB's unscored lead-in: 15% of the file, at most 750 rows.
func ProbationLength(n int) int {
	return int(math.Min(math.Floor(0.15*float64(n)), 0.15*5000))
}

func scaledSigmoid(x float64) float64 {
	if x > 3 {
		return -1
	}
	return 2/(1+math.Exp(5*x)) - 1
}

// nabWeights returns each row's weight if detected, and its window index (-1: none).
func nabWeights(n int, windows [][2]int, p NABProfile) ([]float64, []int) {
	w := make([]float64, n)
	win := make([]int, n)
	maxTP := scaledSigmoid(-1)
	prevRight, prevWidth := -1, 0.0
	wi := 0
	for i := 0; i < n; i++ {
		win[i] = -1
		if wi < len(windows) && i >= windows[wi][0] && i <= windows[wi][1] {
			width := float64(windows[wi][1] - windows[wi][0] + 1)
			pos := -float64(windows[wi][1]-i+1) / width
			w[i] = scaledSigmoid(pos) * p.TP / maxTP
			win[i] = wi
			if i == windows[wi][1] {
				prevRight, prevWidth = i, width
				wi++
			}
			continue
		}
		if prevRight < 0 {
			w[i] = -p.FP
		} else {
			w[i] = scaledSigmoid(float64(i-prevRight)/math.Max(prevWidth-1, 1)) * p.FP
		}
	}
	return w, win
}

// NABResult is a corpus score at the best single threshold.
type NABResult struct {
	Threshold          float64
	Raw, Null, Perfect float64
	Normalised         float64
	ByFile             map[string]float64 // raw score per file at that threshold
}

// ScoreNAB sweeps one threshold over all files' scores (scores[i][row]) and
// returns the best normalised standard-profile score.
func ScoreNAB(files []NABFile, scores [][]float64, p NABProfile) NABResult {
	type pt struct {
		s    float64
		f, r int
	}
	var pts []pt
	weights := make([][]float64, len(files))
	wins := make([][]int, len(files))
	var nWin int
	winBase := make([]int, len(files))
	var null float64
	for fi, f := range files {
		weights[fi], wins[fi] = nabWeights(len(f.Values), f.Windows, p)
		winBase[fi] = nWin
		nWin += len(f.Windows)
		null -= p.FN * float64(len(f.Windows))
		for r := ProbationLength(len(f.Values)); r < len(f.Values); r++ {
			pts = append(pts, pt{scores[fi][r], fi, r})
		}
	}
	perfect := p.TP * float64(nWin)
	sort.Slice(pts, func(i, j int) bool { return pts[i].s > pts[j].s })
	// Lowering the threshold past a point detects it: outside a window it adds
	// its (negative) weight; inside, the window's score becomes the best
	// (earliest) detected weight, replacing the false negative.
	best := make([]float64, nWin)
	detected := make([]bool, nWin)
	cur := null
	bestScore, bestThr := null, math.Inf(1)
	for i := 0; i < len(pts); {
		j := i
		for ; j < len(pts) && pts[j].s == pts[i].s; j++ {
			q := pts[j]
			w := weights[q.f][q.r]
			wi := wins[q.f][q.r]
			if wi < 0 {
				cur += w
				continue
			}
			g := winBase[q.f] + wi
			if !detected[g] {
				detected[g], best[g] = true, w
				cur += p.FN + w
			} else if w > best[g] {
				cur += w - best[g]
				best[g] = w
			}
		}
		if cur > bestScore {
			bestScore, bestThr = cur, pts[i].s
		}
		i = j
	}
	res := NABResult{Threshold: bestThr, Raw: bestScore, Null: null, Perfect: perfect, ByFile: map[string]float64{}}
	res.Normalised = 100 * (bestScore - null) / (perfect - null)
	for fi, f := range files {
		res.ByFile[f.Name] = fileRaw(weights[fi], wins[fi], len(f.Windows), scores[fi], bestThr, ProbationLength(len(f.Values)), p)
	}
	return res
}

func fileRaw(w []float64, win []int, nWin int, s []float64, thr float64, prob int, p NABProfile) float64 {
	best := make([]float64, nWin)
	det := make([]bool, nWin)
	var raw float64
	for r := prob; r < len(s); r++ {
		if s[r] < thr {
			continue
		}
		if win[r] < 0 {
			raw += w[r]
		} else if !det[win[r]] || w[r] > best[win[r]] {
			det[win[r]], best[win[r]] = true, w[r]
		}
	}
	for i := range best {
		if det[i] {
			raw += best[i]
		} else {
			raw -= p.FN
		}
	}
	return raw
}
