package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceltel/acceltel/internal/anomaly"
)

// series writes n rows of a noisy sine with spikes at the given rows.
func series(n int, spikes ...int) string {
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	t0 := time.Date(2014, 4, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		v := 50 + 10*math.Sin(float64(i)/8) + math.Sin(float64(i)*12.9898)
		for _, s := range spikes {
			if i == s {
				v += 80
			}
		}
		fmt.Fprintf(&b, "%s,%g\n", t0.Add(time.Duration(i)*5*time.Minute).Format(time.DateTime), v)
	}
	return b.String()
}

func writeFile(t *testing.T, path, body string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

func TestAnomalyReplay(t *testing.T) {
	dir := t.TempDir()
	in := writeFile(t, filepath.Join(dir, "in.csv"), series(800, 600))
	for _, det := range []string{"ensemble", "robust", "ewma", "seasonal", "spot"} {
		t.Run(det, func(t *testing.T) {
			out := filepath.Join(dir, det+".csv")
			code, _, errOut := runCLI(t, "anomaly", "replay", "--input", in, "--output", out, "--detector", det)
			require.Equal(t, 0, code, errOut)
			assert.Contains(t, errOut, "scored 800 rows")
			fh, err := os.Open(out)
			require.NoError(t, err)
			defer fh.Close()
			recs, err := csv.NewReader(fh).ReadAll()
			require.NoError(t, err)
			require.Len(t, recs, 801)
			assert.Equal(t, []string{"timestamp", "value", "anomaly_score"}, recs[0])
			assert.Equal(t, "2014-04-01 00:00:00", recs[1][0])
			var top int
			var topScore float64
			for i, r := range recs[1:] {
				s, err := strconv.ParseFloat(r[2], 64)
				require.NoError(t, err)
				require.True(t, s >= 0 && s <= 1, "row %d: score %v", i, s)
				if s > topScore {
					top, topScore = i, s
				}
			}
			assert.Equal(t, 600, top, "the spike scores highest")
			assert.GreaterOrEqual(t, topScore, 0.5)
		})
	}

	// No header, and standard output.
	body := strings.SplitN(series(50), "\n", 2)[1]
	in2 := writeFile(t, filepath.Join(dir, "noheader.csv"), body)
	code, out, errOut := runCLI(t, "anomaly", "replay", "--input", in2, "--output", "-")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	assert.Len(t, lines, 51)
	assert.Equal(t, "timestamp,value,anomaly_score", lines[0])
}

func TestAnomalyReplayErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.csv")
	for _, tc := range []struct {
		name, body, want string
	}{
		{"bad value", "timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,abc\n", "bad value.csv:3: value \"abc\" is not a number"},
		{"extra field", "timestamp,value\n2014-04-01 00:00:00,1,2\n", "extra field.csv:2: want 2 fields (timestamp,value), got 3"},
		{"empty timestamp", "timestamp,value\n,1\n", "empty timestamp.csv:2: empty timestamp"},
		{"bad quote", "timestamp,value\n2014-04-01 00:00:00,1\n\"x,1\n", "bad quote.csv:3:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := writeFile(t, filepath.Join(dir, tc.name+".csv"), tc.body)
			code, _, errOut := runCLI(t, "anomaly", "replay", "--input", in, "--output", out)
			assert.Equal(t, 1, code)
			assert.Contains(t, errOut, tc.want)
			_, err := os.Stat(out)
			assert.True(t, os.IsNotExist(err), "no output file after a malformed row")
			left, _ := filepath.Glob(filepath.Join(dir, ".out.csv.*"))
			assert.Empty(t, left, "temporary file removed")
		})
	}

	in := writeFile(t, filepath.Join(dir, "ok.csv"), series(10))
	code, _, errOut := runCLI(t, "anomaly", "replay", "--input", filepath.Join(dir, "missing.csv"), "--output", out)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "missing.csv")

	code, _, errOut = runCLI(t, "anomaly", "replay", "--input", in)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--input and --output are required")

	code, _, errOut = runCLI(t, "anomaly", "replay", "--input", in, "--output", out, "--detector", "isolationforest")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `unknown detector "isolationforest"`)

	code, _, _ = runCLI(t, "anomaly", "replay", "--input", in, "--output", out, "--bogus")
	assert.Equal(t, 2, code)
}

// writeCorpus writes a small NAB-layout corpus: two categories, windows
// around injected spikes, and one file without anomalies.
func writeCorpus(t *testing.T, root string) {
	t.Helper()
	wins := map[string][][2]string{}
	t0 := time.Date(2014, 4, 1, 0, 0, 0, 0, time.UTC)
	at := func(i int) string { return t0.Add(time.Duration(i)*5*time.Minute).Format(time.DateTime) + ".000000" }
	for _, f := range []struct {
		name   string
		spikes []int
	}{
		{"artificialWithAnomaly/a.csv", []int{700}},
		{"artificialWithAnomaly/b.csv", []int{500, 900}},
		{"artificialNoAnomaly/flat.csv", nil},
	} {
		writeFile(t, filepath.Join(root, "data", f.name), series(1000, f.spikes...))
		wins[f.name] = [][2]string{}
		for _, s := range f.spikes {
			wins[f.name] = append(wins[f.name], [2]string{at(s - 20), at(s + 20)})
		}
	}
	raw, err := json.Marshal(wins)
	require.NoError(t, err)
	writeFile(t, filepath.Join(root, "labels", "combined_windows.json"), string(raw))
}

func TestAnomalyNAB(t *testing.T) {
	root := t.TempDir()
	writeCorpus(t, root)
	code, out, errOut := runCLI(t, "anomaly", "nab", "--data", filepath.Join(root, "data"),
		"--windows", filepath.Join(root, "labels", "combined_windows.json"))
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `(?m)^artificialNoAnomaly\s+1\s+0\s+-\s+`, out)
	assert.Regexp(t, `(?m)^artificialWithAnomaly\s+2\s+3\s+\d+\.\d\s+`, out)
	assert.Regexp(t, `(?m)^overall\s+3\s+3\s+\d+\.\d\s+`, out)
	assert.Contains(t, out, "detector ensemble, standard profile")

	// The NAB root works too, with the windows found under labels/.
	code, out, errOut = runCLI(t, "anomaly", "nab", "--data", root, "--json", "--detector", "robust")
	require.Equal(t, 0, code, errOut)
	var rep nabReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	assert.Equal(t, "robust", rep.Detector)
	assert.Equal(t, 3, rep.Files)
	assert.Equal(t, 3, rep.Windows)
	assert.InDelta(t, -3, rep.Null, 1e-9)
	assert.InDelta(t, 3, rep.Perfect, 1e-9)
	assert.Greater(t, rep.Score, 50.0, "three obvious spikes")
	require.Len(t, rep.Categories, 2)
	assert.Nil(t, rep.Categories[0].Score)
	require.NotNil(t, rep.Categories[1].Score)
	assert.InDelta(t, rep.Score, *rep.Categories[1].Score+100*rep.Categories[0].Raw/6, 1e-6,
		"the categories add up to the corpus")

	code, _, errOut = runCLI(t, "anomaly", "nab")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--data is required")
	code, _, errOut = runCLI(t, "anomaly", "nab", "--data", filepath.Join(root, "data"))
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--windows is required")
	code, _, errOut = runCLI(t, "anomaly", "nab", "--data", root, "--detector", "isolationforest")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "unknown detector")
	code, _, errOut = runCLI(t, "anomaly", "nab", "--data", t.TempDir(), "--windows", filepath.Join(root, "labels", "combined_windows.json"))
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "no <category>/<name>.csv files")
	bad := writeFile(t, filepath.Join(t.TempDir(), "w.json"), "{")
	code, _, errOut = runCLI(t, "anomaly", "nab", "--data", root, "--windows", bad)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "w.json")
}

// TestAnomalyNABCorpus checks the command against the NAB subset, when
// present: the same overall score as internal/anomaly's TestNAB for the
// ensemble (DefaultConfig, Result.Score, one corpus threshold).
func TestAnomalyNABCorpus(t *testing.T) {
	const dir = "../../../shared/data/nab"
	if _, err := os.Stat(filepath.Join(dir, "combined_windows.json")); err != nil {
		t.Skipf("NAB data not found at %s; skipping", dir)
	}
	code, out, errOut := runCLI(t, "anomaly", "nab", "--data", filepath.Join(dir, "data"),
		"--windows", filepath.Join(dir, "combined_windows.json"))
	require.Equal(t, 0, code, errOut)
	t.Log("\n" + out)
	m := regexp.MustCompile(`(?m)^overall\s+\d+\s+\d+\s+(\S+)`).FindStringSubmatch(out)
	require.NotNil(t, m, out)

	files, err := anomaly.LoadNAB(dir)
	require.NoError(t, err)
	scores := make([][]float64, len(files))
	for i, f := range files {
		e := anomaly.New(anomaly.DefaultConfig())
		for _, x := range f.Values {
			scores[i] = append(scores[i], e.Update(x).Score)
		}
	}
	want := anomaly.ScoreNAB(files, scores, anomaly.NABStandard)
	assert.Equal(t, fmt.Sprintf("%.1f", want.Normalised), m[1])

	code, out, errOut = runCLI(t, "anomaly", "nab", "--data", dir, "--json")
	require.Equal(t, 0, code, errOut)
	var rep nabReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	assert.Equal(t, want.Normalised, rep.Score)
	assert.Equal(t, want.Threshold, rep.Threshold)
	assert.Equal(t, len(files), rep.Files)
}
