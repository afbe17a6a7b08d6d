package infinibandreceiver

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/acceltel/acceltel/receivers/infinibandreceiver/internal/metadata"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func newTestScraper(t testing.TB, root string, mutate ...func(*Config)) (*infinibandScraper, *observer.ObservedLogs) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.RootPath = root
	for _, m := range mutate {
		m(cfg)
	}
	require.NoError(t, cfg.Validate())
	core, logs := observer.New(zap.InfoLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	s := newScraper(cfg, set)
	require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
	return s, logs
}

func fixture(t testing.TB) string {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("testdata", "host"))
	require.NoError(t, err)
	return abs
}

func compareGolden(t *testing.T, name string, actual pmetric.Metrics) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, golden.WriteMetrics(t, path, actual))
	}
	expected, err := golden.ReadMetrics(path)
	require.NoError(t, err)
	require.NoError(t, pmetrictest.CompareMetrics(expected, actual,
		pmetrictest.IgnoreTimestamp(),
		pmetrictest.IgnoreStartTimestamp(),
		pmetrictest.IgnoreResourceMetricsOrder(),
		pmetrictest.IgnoreMetricsOrder(),
		pmetrictest.IgnoreMetricDataPointsOrder(),
	))
}

// TestScrape covers an mlx5 HCA with hw_counters on InfiniBand, a RoCE port,
// an mlx4 HCA without hw_counters whose 32-bit counters saturate, an
// unreadable and a corrupt counter, and the GPU each HCA is closest to.
func TestScrape(t *testing.T) {
	s, logs := newTestScraper(t, fixture(t))
	metrics, err := s.scrape(context.Background())

	// The two bad files of mlx4_0 fail, and only them.
	require.Error(t, err)
	assert.True(t, scrapererror.IsPartialScrapeError(err))
	assert.Contains(t, err.Error(), "mlx4_0/ports/1/counters/port_rcv_packets")
	assert.Contains(t, err.Error(), `mlx4_0/ports/1/counters/port_rcv_data: not a counter: "N/A"`)
	assert.Equal(t, 2, strings.Count(err.Error(), "mlx4_0"), err.Error())

	compareGolden(t, "scrape.yaml", metrics)

	saturated := logs.FilterMessageSnippet("saturated").All()
	require.Len(t, saturated, 4) // port_xmit_data, symbol_error, link_error_recovery, excessive_buffer_overrun_errors
	_, _ = s.scrape(context.Background())
	assert.Len(t, logs.FilterMessageSnippet("saturated").All(), 4, "logged once per counter")
}

func TestRatiosFromTwoScrapes(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.CopyFS(root, os.DirFS(fixture(t))))
	s, _ := newTestScraper(t, root, func(c *Config) { c.Devices = []string{"mlx5_0"} })

	_, err := s.scrape(context.Background())
	require.NoError(t, err)
	// Pretend ten seconds passed and 25 GB went out at 200 Gb/s (25 GB/s):
	// 10% utilization; 312.5e6 ticks of 8 bytes lost = 1% of capacity.
	key := portKey{device: "mlx5_0", port: 1}
	prev := s.prev[key]
	prev.at = prev.at.Add(-10 * time.Second)
	s.prev[key] = prev
	counters := filepath.Join(root, "sys", "class", "infiniband", "mlx5_0", "ports", "1", "counters")
	require.NoError(t, os.WriteFile(filepath.Join(counters, "port_xmit_data"), []byte("105015432100\n"), 0o600)) // +25e9 bytes
	require.NoError(t, os.WriteFile(filepath.Join(counters, "port_xmit_wait"), []byte("316700000\n"), 0o600))    // +312.5e6 ticks

	metrics, err := s.scrape(context.Background())
	require.NoError(t, err)
	util := findGauge(t, metrics, "infiniband.port.utilization", "network.io.direction", "transmit")
	assert.InDelta(t, 0.10, util, 0.002)
	assert.InDelta(t, 0.0, findGauge(t, metrics, "infiniband.port.utilization", "network.io.direction", "receive"), 1e-9)
	assert.InDelta(t, 0.01, findGauge(t, metrics, "infiniband.port.xmit_wait.ratio", "", ""), 0.0002)
}

func TestCounterClearedByOthersSkipsInterval(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.CopyFS(root, os.DirFS(fixture(t))))
	s, _ := newTestScraper(t, root, func(c *Config) { c.Devices = []string{"mlx5_0"} })
	_, err := s.scrape(context.Background())
	require.NoError(t, err)
	counters := filepath.Join(root, "sys", "class", "infiniband", "mlx5_0", "ports", "1", "counters")
	require.NoError(t, os.WriteFile(filepath.Join(counters, "port_xmit_data"), []byte("0\n"), 0o600))
	metrics, err := s.scrape(context.Background())
	require.NoError(t, err)
	assert.False(t, hasMetric(metrics, "infiniband.port.utilization"), "no utilization across a counter reset")
}

func TestNoInfiniBand(t *testing.T) {
	s, logs := newTestScraper(t, t.TempDir())
	for range 3 {
		metrics, err := s.scrape(context.Background())
		require.NoError(t, err)
		assert.Equal(t, 1, metrics.DataPointCount())
		assert.Equal(t, 0.0, findGauge(t, metrics, "acceltel.receiver.available", "acceltel.receiver", "infiniband"))
	}
	assert.Len(t, logs.FilterMessageSnippet("no InfiniBand devices").All(), 1, "said once")
}

func TestDevicesAppearLater(t *testing.T) {
	root := t.TempDir()
	s, logs := newTestScraper(t, root)
	_, err := s.scrape(context.Background())
	require.NoError(t, err)
	require.NoError(t, os.CopyFS(root, os.DirFS(fixture(t))))
	metrics, err := s.scrape(context.Background())
	require.Error(t, err) // mlx4_0's bad files
	assert.Equal(t, 1.0, findGauge(t, metrics, "acceltel.receiver.available", "acceltel.receiver", "infiniband"))
	assert.Len(t, logs.FilterMessageSnippet("InfiniBand devices found").All(), 1)
}

func findGauge(t *testing.T, md pmetric.Metrics, name, attr, value string) float64 {
	t.Helper()
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Name() != name {
					continue
				}
				for _, dp := range m.Gauge().DataPoints().All() {
					if v, ok := dp.Attributes().Get(attr); attr == "" || ok && v.AsString() == value {
						if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
							return float64(dp.IntValue())
						}
						return dp.DoubleValue()
					}
				}
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", name, attr, value)
	return 0
}

func hasMetric(md pmetric.Metrics, name string) bool {
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Name() == name {
					return true
				}
			}
		}
	}
	return false
}
