package anomaly

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// nabSeries writes n rows of a NAB data file, 5 minutes apart, with a level
// shift at row shift, and a window (NAB's combined_windows.json) around it.
func nabSeries(n, shift int) (data, windows []byte) {
	var b bytes.Buffer
	b.WriteString("timestamp,value\n")
	t0 := time.Date(2014, 4, 1, 0, 0, 0, 0, time.UTC)
	stamp := func(i int) string { return t0.Add(time.Duration(i) * 5 * time.Minute).Format("2006-01-02 15:04:05") }
	for i := range n {
		v := 20 + 5*math.Sin(float64(i)/12)
		if i >= shift {
			v += 40
		}
		fmt.Fprintf(&b, "%s,%v\n", stamp(i), v)
	}
	lo, hi := max(shift-5, 0), min(shift+5, n-1)
	windows = fmt.Appendf(nil, `{"cat/series.csv": [["%s.000000", "%s.000000"]], "other/x.csv": []}`, stamp(lo), stamp(hi))
	return b.Bytes(), windows
}

// FuzzNABData feeds the NAB corpus reader one data file and a windows file.
// It reads them or says why not, never panics; what it reads has a value
// per timestamp and windows that are non-empty row ranges inside the file;
// scored, the file's result lies between detecting nothing (the null
// score) and detecting every window at its start (the perfect score).
func FuzzNABData(f *testing.F) {
	d, w := nabSeries(200, 150)
	f.Add(d, w)
	d, w = nabSeries(40, 39)
	f.Add(d, w)
	f.Add([]byte("timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,NaN\n"), []byte(`{"cat/series.csv": [["2014-04-01 00:05:00.000000", "2014-04-01 00:00:00"]]}`))
	f.Add([]byte("timestamp\n2014-04-01 00:00:00\n"), []byte(`{}`))
	f.Add([]byte("timestamp,value\n\"unterminated,1\n"), []byte(`{"cat/series.csv": [["", "~"], ["b", "a"]]}`))
	f.Add([]byte(""), []byte(`[`))
	if real, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "data", "nab", "data", "artificialWithAnomaly", "art_daily_flatmiddle.csv")); err == nil {
		f.Add(real[:min(len(real), 8000)], []byte(`{"cat/series.csv": [["2014-04-01 07:15:00.000000", "2014-04-01 09:45:00.000000"]]}`))
	}
	root := f.TempDir()
	dataDir := filepath.Join(root, "data")
	if err := os.MkdirAll(filepath.Join(dataDir, "cat"), 0o755); err != nil {
		f.Fatal(err)
	}
	csvPath, winPath := filepath.Join(dataDir, "cat", "series.csv"), filepath.Join(root, "combined_windows.json")
	f.Fuzz(func(t *testing.T, data, windows []byte) {
		if err := os.WriteFile(csvPath, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(winPath, windows, 0o600); err != nil {
			t.Fatal(err)
		}
		files, err := LoadNABFrom(dataDir, winPath)
		if err != nil {
			if files != nil {
				t.Fatalf("both files and %v", err)
			}
			return
		}
		if len(files) != 1 || files[0].Name != "cat/series.csv" {
			t.Fatalf("files %+v", files)
		}
		nf := files[0]
		if len(nf.Times) != len(nf.Values) {
			t.Fatalf("%d timestamps, %d values", len(nf.Times), len(nf.Values))
		}
		// Every row read is a row of the file: a header and then as many records.
		recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil || len(recs) != len(nf.Values)+1 {
			t.Fatalf("read %d rows from a file of %d records (%v)", len(nf.Values), len(recs), err)
		}
		for _, win := range nf.Windows {
			if win[0] < 0 || win[0] > win[1] || win[1] >= len(nf.Values) {
				t.Fatalf("window %v outside %d rows", win, len(nf.Values))
			}
		}
		score, _ := NewScorer("ensemble")
		scores := make([]float64, len(nf.Values))
		for i, v := range nf.Values {
			scores[i] = score(v)
		}
		res := ScoreNAB(files, [][]float64{scores}, NABStandard)
		raw, ok := res.ByFile[nf.Name]
		if !ok || math.IsNaN(raw) || math.IsNaN(res.Raw) {
			t.Fatalf("result %+v", res)
		}
		const eps = 1e-9
		if res.Raw < res.Null-eps || res.Raw > res.Perfect+eps || raw < res.Null-eps || raw > res.Perfect+eps {
			t.Fatalf("raw %v (file %v) outside [null %v, perfect %v]", res.Raw, raw, res.Null, res.Perfect)
		}
	})
}

// replayErr is how Replay's errors start: the line number, or a space for
// errors without one, since the caller writes "FILE:" before them.
var replayErr = regexp.MustCompile(`^([1-9][0-9]*: | ).`)

// FuzzReplayCSV runs Replay, `acceltel anomaly replay`, on any input, with
// every detector. It either fails with "LINE: reason" or writes a CSV that reads
// back as the header and one row per data row of the input, in order, with
// the input's trimmed timestamp and value and a score in [0, 1] that a
// fresh run of the detector gives again.
func FuzzReplayCSV(f *testing.F) {
	d, _ := nabSeries(300, 200)
	f.Add(d, uint8(0))
	d, _ = nabSeries(120, 60)
	f.Add(d, uint8(3))
	f.Add([]byte("1,2\n2,NaN\n3,+Inf\n4,-1e308\n5,1e308\n6,0x1p-1074\n"), uint8(1))
	f.Add([]byte("timestamp,value\n\" a \", 1 \n\"b\nc\",2\n"), uint8(2))
	f.Add([]byte("ts,value\nx,1,2\n"), uint8(4))
	f.Add([]byte("a,b\n,1\n"), uint8(0))
	f.Add([]byte("1,\"unterminated\n"), uint8(0))
	f.Fuzz(func(t *testing.T, in []byte, det uint8) {
		names := DetectorNames()
		name := names[int(det)%len(names)]
		score, err := NewScorer(name)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		n, err := Replay(bytes.NewReader(in), &out, score)
		if err != nil {
			if !replayErr.MatchString(err.Error()) {
				t.Fatalf("error %q does not start with a line number", err)
			}
			return
		}
		// What the input holds, read independently.
		r := csv.NewReader(bytes.NewReader(in))
		r.FieldsPerRecord = -1
		var want [][2]string
		for i := 0; ; i++ {
			rec, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil || len(rec) != 2 {
				t.Fatalf("replay accepted row %d: %q (%v)", i, rec, err)
			}
			ts, v := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				if i == 0 {
					continue // the header
				}
				t.Fatalf("replay accepted value %q", v)
			}
			want = append(want, [2]string{ts, v})
		}
		if n != len(want) {
			t.Fatalf("scored %d rows of %d", n, len(want))
		}
		got, err := csv.NewReader(&out).ReadAll()
		if err != nil {
			t.Fatalf("output is not CSV: %v\n%s", err, out.String())
		}
		if len(got) != n+1 || strings.Join(got[0], ",") != "timestamp,value,anomaly_score" {
			t.Fatalf("%d output rows for %d scored: %q", len(got), n, got)
		}
		again, _ := NewScorer(name)
		for i, row := range got[1:] {
			if row[0] != want[i][0] || row[1] != want[i][1] || row[0] == "" {
				t.Fatalf("row %d: %q, input %q", i, row, want[i])
			}
			s, err := strconv.ParseFloat(row[2], 64)
			if err != nil || !(s >= 0 && s <= 1) {
				t.Fatalf("%s: row %d %q: score %q", name, i, row, row[2])
			}
			v, _ := strconv.ParseFloat(row[1], 64)
			if s2 := again(v); s2 != s {
				t.Fatalf("%s: row %d: score %v, a fresh run gives %v", name, i, s, s2)
			}
		}
	})
}
