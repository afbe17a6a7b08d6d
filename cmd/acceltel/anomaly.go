package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/acceltel/acceltel/internal/anomaly"
)

func newAnomalyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "anomaly",
		Short: "Run the anomaly engine offline: replay a CSV, score a detector on NAB",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newAnomalyReplayCommand(), newAnomalyNABCommand())
	return cmd
}

var detectorHelp = "detector: " + strings.Join(anomaly.DetectorNames(), ", ")

func newAnomalyReplayCommand() *cobra.Command {
	var input, output, detector string
	cmd := &cobra.Command{
		Use:   "replay --input FILE.csv --output OUT.csv [--detector NAME]",
		Short: "Score a timestamp,value CSV and write timestamp,value,anomaly_score",
		Long: "Run the anomaly engine over a CSV of timestamp,value rows (a header row is optional) and write\n" +
			"timestamp,value,anomaly_score, the format NAB results use. Scores are in [0,1]; 0.5 is SPOT's\n" +
			"threshold at the default false-alarm probability (cad: its own score, the share of its contexts\n" +
			"that failed or were new). --output - writes to standard output.\n" +
			"Exit status: 0 on success, 1 for unreadable or malformed input (with its line number), 2 for invalid flags.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runReplay(cmd, input, output, detector) },
	}
	fl := cmd.Flags()
	fl.StringVar(&input, "input", "", "CSV of timestamp,value rows (required)")
	fl.StringVar(&output, "output", "", "CSV to write, or - for standard output (required)")
	fl.StringVar(&detector, "detector", "ensemble", detectorHelp)
	return cmd
}

func runReplay(cmd *cobra.Command, input, output, detector string) error {
	fail := func(code int, format string, a ...any) error {
		fmt.Fprintf(cmd.ErrOrStderr(), "acceltel anomaly replay: "+format+"\n", a...)
		return exitError{code}
	}
	if input == "" || output == "" {
		return fail(2, "--input and --output are required")
	}
	score, err := anomaly.NewScorer(detector)
	if err != nil {
		return fail(2, "--detector: %v", err)
	}
	in, err := os.Open(input)
	if err != nil {
		return fail(1, "%v", err)
	}
	defer func() { _ = in.Close() }() // read-only: a close error loses nothing

	if output == "-" {
		w := bufio.NewWriter(cmd.OutOrStdout())
		n, err := anomaly.Replay(in, w, score)
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			return fail(1, "%s:%v", input, err)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "scored %d rows\n", n)
		return nil
	}
	// Write beside the target and rename, so a malformed row leaves no half file.
	tmp, err := os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".*")
	if err != nil {
		return fail(1, "%v", err)
	}
	w := bufio.NewWriter(tmp)
	n, err := anomaly.Replay(in, w, score)
	if err != nil {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
		return fail(1, "%s:%v", input, err)
	}
	err = errors.Join(w.Flush(), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), output)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fail(1, "write %s: %v", output, err)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "scored %d rows into %s\n", n, output)
	return nil
}

type nabFlags struct {
	data, windows, detector string
	json                    bool
}

func newAnomalyNABCommand() *cobra.Command {
	var f nabFlags
	cmd := &cobra.Command{
		Use:   "nab --data DIR --windows FILE [--detector NAME] [--json]",
		Short: "Score a detector over a NAB-layout corpus with NAB's standard profile",
		Long: "Run a detector over every <category>/<name>.csv under --data (or under --data/data) and score it as\n" +
			"the Numenta Anomaly Benchmark does with its standard profile: labelled windows, a scaled sigmoid\n" +
			"weight, the unscored probation period, one threshold for the whole corpus and the normalised score\n" +
			"(0 = detecting nothing, 100 = perfect). --windows is NAB's combined_windows.json; without it, it is\n" +
			"looked for as combined_windows.json or labels/combined_windows.json under --data.\n" +
			"Exit status: 0 on success, 1 for an unreadable corpus, 2 for invalid flags.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runNAB(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "", "NAB data folder: <category>/<name>.csv (required)")
	fl.StringVar(&f.windows, "windows", "", "NAB combined_windows.json")
	fl.StringVar(&f.detector, "detector", "ensemble", detectorHelp)
	fl.BoolVar(&f.json, "json", false, "print JSON instead of a table")
	return cmd
}

// nabCategory is one category's share of a corpus score at the corpus threshold.
type nabCategory struct {
	Name    string   `json:"name"`
	Files   int      `json:"files"`
	Windows int      `json:"windows"`
	Raw     float64  `json:"raw"`
	Score   *float64 `json:"score"` // normalised; null for a category without windows
}

type nabReport struct {
	Detector   string        `json:"detector"`
	Profile    string        `json:"profile"`
	Files      int           `json:"files"`
	Windows    int           `json:"windows"`
	Threshold  float64       `json:"threshold"`
	Raw        float64       `json:"raw"`
	Null       float64       `json:"null"`
	Perfect    float64       `json:"perfect"`
	Score      float64       `json:"score"`
	Categories []nabCategory `json:"categories"`
}

func runNAB(cmd *cobra.Command, f *nabFlags) error {
	fail := func(code int, format string, a ...any) error {
		fmt.Fprintf(cmd.ErrOrStderr(), "acceltel anomaly nab: "+format+"\n", a...)
		return exitError{code}
	}
	if f.data == "" {
		return fail(2, "--data is required")
	}
	if _, err := anomaly.NewScorer(f.detector); err != nil {
		return fail(2, "--detector: %v", err)
	}
	root, data := f.data, f.data
	if st, err := os.Stat(filepath.Join(f.data, "data")); err == nil && st.IsDir() {
		data = filepath.Join(f.data, "data")
	}
	windows := f.windows
	if windows == "" {
		for _, c := range []string{filepath.Join(root, "combined_windows.json"), filepath.Join(root, "labels", "combined_windows.json")} {
			if _, err := os.Stat(c); err == nil {
				windows = c
				break
			}
		}
		if windows == "" {
			return fail(2, "--windows is required (no combined_windows.json or labels/combined_windows.json under %s)", root)
		}
	}
	files, err := anomaly.LoadNABFrom(data, windows)
	if err != nil {
		return fail(1, "%v", err)
	}
	if len(files) == 0 {
		return fail(1, "no <category>/<name>.csv files under %s", data)
	}
	scores := make([][]float64, len(files))
	for i, nf := range files {
		s, _ := anomaly.NewScorer(f.detector) // checked above
		scores[i] = make([]float64, len(nf.Values))
		for r, x := range nf.Values {
			scores[i][r] = s(x)
		}
	}
	rep := nabSummary(f.detector, files, anomaly.ScoreNAB(files, scores, anomaly.NABStandard))
	if rep.Windows == 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "acceltel anomaly nab: warning: no labelled windows match the files under %s\n", data)
	}
	if f.json {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CATEGORY\tFILES\tWINDOWS\tSCORE\tRAW")
	for _, c := range rep.Categories {
		s := "-"
		if c.Score != nil {
			s = fmt.Sprintf("%.1f", *c.Score)
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%.2f\n", c.Name, c.Files, c.Windows, s, c.Raw)
	}
	fmt.Fprintf(w, "overall\t%d\t%d\t%.1f\t%.2f\n", rep.Files, rep.Windows, rep.Score, rep.Raw)
	_ = w.Flush() // the command's own output: nothing to do on failure
	fmt.Fprintf(cmd.OutOrStdout(), "\ndetector %s, standard profile, threshold %.4f (null %.2f, perfect %.2f)\n",
		rep.Detector, rep.Threshold, rep.Null, rep.Perfect)
	return nil
}

func nabSummary(detector string, files []anomaly.NABFile, res anomaly.NABResult) nabReport {
	rep := nabReport{Detector: detector, Profile: "standard", Files: len(files), Threshold: res.Threshold,
		Raw: res.Raw, Null: res.Null, Perfect: res.Perfect, Score: res.Normalised}
	idx := map[string]int{}
	var null, perfect []float64
	for _, nf := range files {
		name, _, _ := strings.Cut(nf.Name, "/")
		i, ok := idx[name]
		if !ok {
			i = len(rep.Categories)
			idx[name] = i
			rep.Categories = append(rep.Categories, nabCategory{Name: name})
			null, perfect = append(null, 0), append(perfect, 0)
		}
		c := &rep.Categories[i]
		c.Files++
		c.Windows += len(nf.Windows)
		c.Raw += res.ByFile[nf.Name]
		null[i] -= anomaly.NABStandard.FN * float64(len(nf.Windows))
		perfect[i] += anomaly.NABStandard.TP * float64(len(nf.Windows))
		rep.Windows += len(nf.Windows)
	}
	for i := range rep.Categories {
		if perfect[i] > null[i] {
			s := 100 * (rep.Categories[i].Raw - null[i]) / (perfect[i] - null[i])
			rep.Categories[i].Score = &s
		}
	}
	slices.SortFunc(rep.Categories, func(a, b nabCategory) int { return strings.Compare(a.Name, b.Name) })
	return rep
}
