package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/acceltel/acceltel/internal/report"
)

type reportFlags struct {
	input, prometheus, from, to, output, title string
	s3Endpoint, s3Region                       string
	s3PathStyle                                bool
	maxColumns                                 int
}

func newReportCommand() *cobra.Command {
	var f reportFlags
	cmd := &cobra.Command{
		Use:   "report (--input DIR|s3://bucket/prefix | --prometheus URL) --from T --to T --output report.html",
		Short: "Render one self-contained HTML report of a time range",
		Long: "Read the Parquet files the s3 exporter wrote (a local folder, or S3 and S3-compatible stores through\n" +
			"the standard AWS chain) or query Prometheus (query_range), and write one HTML file that opens offline:\n" +
			"what needs attention, the GPU fleet over time, throttling and XID/ECC events, NCCL bus bandwidth per\n" +
			"rank, InfiniBand ports, CPU and IO latency per container, anomalies, cost and parallelism recommendations.\n" +
			"Times: RFC 3339 (2026-11-28T13:00:00Z), a date (2026-11-28, midnight UTC), now, or now-24h / -24h.\n" +
			"Exit status: 0 on success, 1 for unreadable input or no data in the range, 2 for invalid flags.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runReport(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.input, "input", "", "folder or s3://bucket/prefix the s3 exporter wrote to")
	fl.StringVar(&f.prometheus, "prometheus", "", "Prometheus base URL to query instead (http://host:9090)")
	fl.StringVar(&f.from, "from", "", "start of the range (required)")
	fl.StringVar(&f.to, "to", "now", "end of the range")
	fl.StringVar(&f.output, "output", "", "HTML file to write (required)")
	fl.StringVar(&f.title, "title", "acceltel report", "title of the page")
	fl.StringVar(&f.s3Endpoint, "s3-endpoint", "", "endpoint of an S3-compatible store (http(s)://host:port)")
	fl.BoolVar(&f.s3PathStyle, "s3-path-style", false, "address buckets as endpoint/bucket (most S3-compatible stores need it)")
	fl.StringVar(&f.s3Region, "s3-region", "", "bucket region (default: the AWS chain's, else us-east-1)")
	fl.IntVar(&f.maxColumns, "max-columns", 720, "most time columns of a chart; longer ranges are downsampled")
	return cmd
}

// parseTime reads the --from/--to forms the help lists.
func parseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "now" {
		return now, nil
	}
	if rest, ok := strings.CutPrefix(s, "now"); ok {
		s = rest
	}
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		d, err := time.ParseDuration(s)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not a duration like -24h", s)
		}
		return now.Add(d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (RFC 3339, a date, now or now-24h)", s)
}

func runReport(cmd *cobra.Command, f reportFlags) error {
	fail := func(code int, format string, a ...any) error {
		fmt.Fprintf(cmd.ErrOrStderr(), "acceltel report: "+format+"\n", a...)
		return exitError{code}
	}
	if (f.input == "") == (f.prometheus == "") {
		return fail(2, "exactly one of --input and --prometheus is required")
	}
	if f.from == "" || f.output == "" {
		return fail(2, "--from and --output are required")
	}
	if f.maxColumns < 10 {
		return fail(2, "--max-columns must be at least 10")
	}
	now := time.Now().UTC()
	from, err := parseTime(f.from, now)
	if err != nil {
		return fail(2, "--from: %v", err)
	}
	to, err := parseTime(f.to, now)
	if err != nil {
		return fail(2, "--to: %v", err)
	}
	if !to.After(from) {
		return fail(2, "empty range: --to %s is not after --from %s", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	if (f.s3Endpoint != "" || f.s3PathStyle || f.s3Region != "") && !strings.HasPrefix(f.input, "s3://") {
		return fail(2, "--s3-endpoint, --s3-path-style and --s3-region apply to an s3:// --input only")
	}
	ctx := cmd.Context()
	b := report.NewBuilder(report.Options{From: from, To: to, MaxColumns: f.maxColumns})
	var source string
	switch {
	case f.prometheus != "":
		source = "Prometheus " + f.prometheus
		if err := report.QueryPrometheus(ctx, f.prometheus, b, from, to); err != nil {
			return fail(1, "%v", err)
		}
	case strings.HasPrefix(f.input, "s3://"):
		bucket, prefix, err := report.ParseS3URL(f.input)
		if err != nil {
			return fail(2, "--input: %v", err)
		}
		src, err := report.NewS3Source(ctx, bucket, prefix, report.S3Options{Endpoint: f.s3Endpoint, PathStyle: f.s3PathStyle, Region: f.s3Region})
		if err != nil {
			return fail(1, "%v", err)
		}
		source = src.String()
		if _, err := report.ReadParquet(ctx, src, b, from, to); err != nil {
			return fail(1, "%v", err)
		}
	default:
		src := report.LocalSource{Dir: f.input}
		source = src.String()
		if _, err := report.ReadParquet(ctx, src, b, from, to); err != nil {
			return fail(1, "%v", err)
		}
	}
	if b.Points() == 0 {
		return fail(1, "no data in %s between %s and %s", source, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if err := writeReport(f.output, b.Dataset(source, now), f.title); err != nil {
		return fail(1, "writing %s: %v", f.output, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d points, %d series, %s columns of %s\n", f.output, b.Points(), b.Series(),
		fmt.Sprint(int(to.Sub(from)/b.Step())), b.Step())
	return nil
}

// writeReport writes through a temporary file in the same folder and
// renames it, so that a failed run leaves no half-written report.
func writeReport(path string, d *report.Dataset, title string) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".acceltel-report-*.html")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()           // already failing
			_ = os.Remove(tmp.Name()) // no half-written report is left behind
		}
	}()
	w := bufio.NewWriterSize(tmp, 1<<20)
	if err = report.Write(w, d, title); err != nil {
		return err
	}
	if err = w.Flush(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
