package s3exporter

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/acceltel/acceltel/exporters/s3exporter/internal/metadata"
)

// An hour of one 8-GPU H100 node as the nvml receiver reports it with its
// default metrics every 10 s: 8 x 70 x 360 = 201,600 data points.
const (
	benchGPUs     = 8
	benchScrapes  = 360
	benchInterval = 10 * time.Second
)

func benchHour() pmetric.Metrics {
	return gpuScrapes("gpu-node-17", benchGPUs, benchScrapes, benchInterval, time.Date(2026, 11, 28, 13, 0, 0, 0, time.UTC))
}

// meter reports per-data-point figures that do not depend on how busy the
// machine is: CPU time of the whole process (GC included) rather than wall
// time, and heap allocations.
type meter struct {
	b      *testing.B
	points int
	cpu    time.Duration
	allocs uint64
}

func startMeter(b *testing.B, points int) *meter {
	m := &meter{b: b, points: points}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.allocs = ms.Mallocs
	m.cpu = cpuTime()
	return m
}

func (m *meter) stop() {
	cpu := cpuTime() - m.cpu
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	dps := float64(m.b.N) * float64(m.points)
	m.b.ReportMetric(float64(m.b.Elapsed().Nanoseconds())/dps, "ns/dp")
	m.b.ReportMetric(float64(cpu.Nanoseconds())/dps, "cpu-ns/dp")
	m.b.ReportMetric(dps/cpu.Seconds(), "dp/cpu-s")
	m.b.ReportMetric(float64(ms.Mallocs-m.allocs)/dps, "allocs/dp")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEncode reports the size of an hour of GPU metrics in each format
// (B/dp) and what encoding costs.
func BenchmarkEncode(b *testing.B) {
	md := benchHour()
	n := md.DataPointCount()
	raw, err := newOTLPEncoder(false, compressionNone).encodeMetrics(md)
	require.NoError(b, err)
	for _, fc := range formatCases {
		b.Run(fc.format+"/"+fc.compression, func(b *testing.B) {
			enc := formats[fc.format](fc.compression)
			var size int
			m := startMeter(b, n)
			for b.Loop() {
				body, err := enc.encodeMetrics(md)
				if err != nil {
					b.Fatal(err)
				}
				size = len(body)
			}
			m.stop()
			b.ReportMetric(float64(size)/float64(n), "B/dp")
			b.ReportMetric(float64(len(raw))/float64(size), "x-smaller-than-otlp-json")
		})
	}
}

// BenchmarkExportLocalFolder is the whole path of one batch: partitioning,
// encoding, naming, writing to a temporary file, fsync and rename.
func BenchmarkExportLocalFolder(b *testing.B) {
	md := benchHour()
	n := md.DataPointCount()
	for _, fc := range []struct{ format, compression string }{
		{formatParquet, compressionZstd},
		{formatOTLPJSON, compressionZstd},
		{formatOTLPProto, compressionZstd},
	} {
		b.Run(fc.format+"/"+fc.compression, func(b *testing.B) {
			cfg := syncConfig()
			cfg.LocalFolder = b.TempDir()
			cfg.Format, cfg.Compression = fc.format, fc.compression
			exp, err := NewFactory().CreateMetrics(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
			require.NoError(b, err)
			require.NoError(b, exp.Start(context.Background(), componenttest.NewNopHost()))
			defer func() { require.NoError(b, exp.Shutdown(context.Background())) }()
			m := startMeter(b, n)
			for b.Loop() {
				if err := exp.ConsumeMetrics(context.Background(), md); err != nil {
					b.Fatal(err)
				}
			}
			m.stop()
		})
	}
}

// TestParquetTenTimesSmallerThanOTLPJSON holds the size goal on ten minutes
// of the same data (sizes are deterministic, unlike times).
func TestParquetTenTimesSmallerThanOTLPJSON(t *testing.T) {
	md := gpuScrapes("gpu-node-17", benchGPUs, 60, benchInterval, time.Date(2026, 11, 28, 13, 0, 0, 0, time.UTC))
	pq, err := newParquetEncoder(compressionZstd).encodeMetrics(md)
	require.NoError(t, err)
	js, err := newOTLPEncoder(false, compressionNone).encodeMetrics(md)
	require.NoError(t, err)
	require.LessOrEqual(t, 10*len(pq), len(js), "parquet %d bytes, OTLP/JSON %d bytes", len(pq), len(js))
}
