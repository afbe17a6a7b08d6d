package report_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/acceltel/acceltel/internal/report"
	"github.com/acceltel/acceltel/internal/report/fleetgen"
)

// BenchmarkReportDay renders a day of a 64-GPU fleet (8 nodes × 8 GPUs,
// every default nvml metric plus NCCL, InfiniBand, eBPF, anomaly, cost and
// plan metrics) scraped every 10 s, written by the real s3 exporter: the
// issue's bound is under a minute and under 20 MB. Writing the fixture
// takes several minutes; ACCELTEL_REPORT_FIXTURE=DIR keeps it in DIR (and
// reuses it when DIR is not empty).
//
//	go test -run '^$' -bench BenchmarkReportDay -benchtime 1x -timeout 60m ./internal/report/
func BenchmarkReportDay(b *testing.B) {
	f := fleetgen.Fleet{Nodes: 8, GPUsPerNode: 8, Start: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC),
		Interval: 10 * time.Second, Steps: 8640, FullNVML: true}
	dir := os.Getenv("ACCELTEL_REPORT_FIXTURE")
	if dir == "" {
		dir = b.TempDir()
	}
	if entries, _ := os.ReadDir(dir); len(entries) == 0 {
		t0 := time.Now()
		if err := f.WriteParquet(context.Background(), dir); err != nil {
			b.Fatal(err)
		}
		b.Logf("fixture: %d points per scrape, %d scrapes, written in %s", f.Step(0).DataPointCount(), f.Steps, time.Since(t0).Round(time.Second))
	}
	var files, bytesOnDisk int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			info, _ := d.Info()
			files++
			bytesOnDisk += info.Size()
		}
		return nil
	})
	from, to := f.Start, f.Start.Add(24*time.Hour)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		var ru0 runtime.MemStats
		runtime.ReadMemStats(&ru0)
		bl := report.NewBuilder(report.Options{From: from, To: to})
		st, err := report.ReadParquet(context.Background(), report.LocalSource{Dir: dir}, bl, from, to)
		if err != nil {
			b.Fatal(err)
		}
		read := time.Since(t0)
		var out bytes.Buffer
		if err := report.Write(&out, bl.Dataset(report.LocalSource{Dir: dir}.String(), time.Now()), "acceltel report"); err != nil {
			b.Fatal(err)
		}
		total := time.Since(t0)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(total.Seconds(), "s/report")
		b.ReportMetric(float64(out.Len())/1e6, "MB/html")
		b.Logf("input: %d files, %.1f MB; %d rows read (%d points kept in %d series); read %s, total %s; HTML %.2f MB; heap in use %d MB",
			files, float64(bytesOnDisk)/1e6, st.Rows, bl.Points(), bl.Series(), read.Round(time.Millisecond), total.Round(time.Millisecond),
			float64(out.Len())/1e6, ms.HeapInuse>>20)
		if out.Len() > 20e6 {
			b.Errorf("HTML is %d bytes, over 20 MB", out.Len())
		}
		if p := os.Getenv("ACCELTEL_REPORT_OUT"); p != "" {
			_ = os.WriteFile(p, out.Bytes(), 0o644)
		}
	}
}
