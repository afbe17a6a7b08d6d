package nvmlreceiver

import (
	"context"
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/acceltel/acceltel/receivers/nvmlreceiver/internal/metadata"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func h100Node() *fakeNode { return newFakeNode(dgxh100.New(), 18) }

func newTestScraper(t testing.TB, lib nvml.Interface, mutate ...func(*Config)) (*nvmlScraper, *observer.ObservedLogs) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.XIDEvents = false
	cfg.PodResourcesSocket = ""
	for _, m := range mutate {
		m(cfg)
	}
	require.NoError(t, cfg.Validate())
	core, logs := observer.New(zap.InfoLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	s := newScraper(cfg, set, func(string) nvml.Interface { return lib })
	s.gpmMinInterval = 0 // the tests scrape back to back
	require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, s.shutdown(context.Background())) })
	return s, logs
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

func resourceOf(md pmetric.Metrics, uuid string) pcommon.Resource {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		if id, _ := rms.At(i).Resource().Attributes().Get("hw.id"); id.Str() == uuid {
			return rms.At(i).Resource()
		}
	}
	return pcommon.NewResource()
}

// findMetric returns the data points of a metric on the GPU with that UUID.
func findMetric(t *testing.T, md pmetric.Metrics, uuid, name string) pmetric.NumberDataPointSlice {
	t.Helper()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		id, _ := rms.At(i).Resource().Attributes().Get("hw.id")
		if id.Str() != uuid {
			continue
		}
		ms := rms.At(i).ScopeMetrics().At(0).Metrics()
		for k := 0; k < ms.Len(); k++ {
			m := ms.At(k)
			if m.Name() != name {
				continue
			}
			if m.Type() == pmetric.MetricTypeSum {
				return m.Sum().DataPoints()
			}
			return m.Gauge().DataPoints()
		}
	}
	return pmetric.NewNumberDataPointSlice()
}

func TestScrape8xH100(t *testing.T) {
	n := h100Node()
	s, logs := newTestScraper(t, n.srv)
	n.setEnergy(2, 1_500_000+3_000_000) // GPU 2 drew 1.5 kJ... plus its start value
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	compareGolden(t, "h100x8.yaml", md)

	assert.Equal(t, 0, logs.FilterMessage("GPU does not support some metrics; they are not collected").Len(), "an H100 supports everything")
	bus, ok := resourceOf(md, n.devs[0].UUID).Attributes().Get("pci.bus_id")
	require.True(t, ok)
	assert.Equal(t, "0000:17:00.0", bus.Str())
	// The NVLink total is the sum over 18 links: (1+...+18)*1000 KiB for GPU 0.
	io := findMetric(t, md, n.devs[0].UUID, "nvidia.gpu.nvlink.io")
	require.Equal(t, 2, io.Len())
	for i := 0; i < io.Len(); i++ {
		dir, _ := io.At(i).Attributes().Get("network.io.direction")
		want := int64(171 * 1000 * 1024)
		if dir.Str() == "receive" {
			want *= 2
		}
		assert.Equal(t, want, io.At(i).IntValue(), dir.Str())
	}
	e := findMetric(t, md, n.devs[2].UUID, "hw.energy")
	require.Equal(t, 1, e.Len())
	assert.InDelta(t, 1500.0, e.At(0).DoubleValue(), 1e-9)
}

// TestNVMLCallsPerScrape pins the count the README states: 24 calls per
// GPU plus GPM's two (only its sample on the first scrape, which has no
// previous sample to compare with).
func TestNVMLCallsPerScrape(t *testing.T) {
	n := h100Node()
	s, _ := newTestScraper(t, n.srv)
	n.calls.Store(0)
	_, err := s.scrape(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(25*8), n.calls.Load(), "NVML calls for 8 GPUs, first scrape")
	n.calls.Store(0)
	_, err = s.scrape(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(26*8), n.calls.Load(), "NVML calls for 8 GPUs")
}

// TestA100EccOff is an A100 with ECC turned off and twelve NVLinks: the ECC
// counters are dropped at start and named once in the log.
func TestA100EccOff(t *testing.T) {
	n := newFakeNode(dgxa100.New(), 12)
	n.eccOff = true
	s, logs := newTestScraper(t, n.srv, func(c *Config) { c.Metrics.NvidiaGpuNvlinkLinkIo.Enabled = true })
	for range 3 {
		md, err := s.scrape(context.Background())
		require.NoError(t, err)
		assert.Equal(t, 0, findMetric(t, md, n.devs[0].UUID, "hw.errors").Len())
		assert.Equal(t, 24, findMetric(t, md, n.devs[0].UUID, "nvidia.gpu.nvlink.link.io").Len())
		assert.Equal(t, 2, findMetric(t, md, n.devs[0].UUID, "nvidia.gpu.nvlink.io").Len())
		assert.Equal(t, 8, md.ResourceMetrics().Len()-1)
	}
	unsupported := logs.FilterMessage("GPU does not support some metrics; they are not collected")
	require.Equal(t, 8, unsupported.Len(), "one line per GPU, at start only")
	assert.Contains(t, unsupported.All()[0].ContextMap()["unsupported"], "ecc_aggregate_uncorrected")
}

// TestDriverLacksSymbols is an older driver: the _v2 memory call and the
// clock-event call are missing, so their older variants are used, and the
// missing ones are never called (their mock functions would panic).
func TestDriverLacksSymbols(t *testing.T) {
	n := h100Node()
	for _, sym := range []string{"nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetNumaNodeId", "nvmlDeviceGetGpuMaxPcieLinkGeneration"} {
		n.missing[sym] = true
	}
	for _, d := range n.devs {
		d.GetMemoryInfo_v2Func = nil
		d.GetCurrentClocksEventReasonsFunc = nil
		d.GetNumaNodeIdFunc = nil
		d.GetGpuMaxPcieLinkGenerationFunc = nil
	}
	s, logs := newTestScraper(t, n.srv)
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	uuid := n.devs[5].UUID
	assert.Equal(t, 0, findMetric(t, md, uuid, "nvidia.gpu.memory.reserved").Len())
	used := findMetric(t, md, uuid, "hw.gpu.memory.usage")
	require.Equal(t, 1, used.Len())
	assert.Equal(t, int64(6<<30), used.At(0).IntValue())
	reasons := findMetric(t, md, uuid, "nvidia.gpu.clock_event.reason")
	assert.Equal(t, 11, reasons.Len())
	active := 0
	for i := 0; i < reasons.Len(); i++ {
		active += int(reasons.At(i).IntValue())
	}
	assert.Equal(t, 2, active)
	_, hasNuma := resourceOf(md, uuid).Attributes().Get("nvidia.gpu.numa_node")
	assert.False(t, hasNuma)
	assert.Equal(t, 8, logs.FilterMessage("GPU does not support some metrics; they are not collected").Len())
}

// TestSingleCallsFail checks a failing call and a failing field cost only
// their own data points.
func TestSingleCallsFail(t *testing.T) {
	n := h100Node()
	s, _ := newTestScraper(t, n.srv)
	n.setFail(3, "GetPowerUsage", nvml.ERROR_GPU_IS_LOST)
	n.mu.Lock()
	n.failField[4] = map[uint32]nvml.Return{nvml.FI_DEV_MEMORY_TEMP: nvml.ERROR_UNKNOWN}
	n.mu.Unlock()
	n.setFail(6, "GetFieldValues", nvml.ERROR_TIMEOUT)

	md, err := s.scrape(context.Background())
	require.Error(t, err)
	assert.True(t, scrapererror.IsPartialScrapeError(err))
	msg := err.Error()
	assert.Contains(t, msg, n.devs[3].UUID+" power: GetPowerUsage")
	assert.Contains(t, msg, n.devs[4].UUID+" field_values: field values [82] failed")
	assert.Contains(t, msg, n.devs[6].UUID+" field_values: GetFieldValues")
	assert.Equal(t, 3, strings.Count(msg, "GPU-"), msg)

	assert.Equal(t, 0, findMetric(t, md, n.devs[3].UUID, "hw.power").Len())
	assert.Equal(t, 1, findMetric(t, md, n.devs[3].UUID, "hw.energy").Len())
	assert.Equal(t, 1, findMetric(t, md, n.devs[4].UUID, "hw.temperature").Len(), "GPU temperature stays, memory goes")
	assert.Equal(t, 8, findMetric(t, md, n.devs[4].UUID, "nvidia.gpu.throttle.time").Len())
	assert.Equal(t, 0, findMetric(t, md, n.devs[6].UUID, "nvidia.gpu.nvlink.io").Len())
	assert.Equal(t, 1, findMetric(t, md, n.devs[6].UUID, "hw.power").Len())
	assert.Equal(t, 2, findMetric(t, md, n.devs[7].UUID, "nvidia.gpu.nvlink.io").Len())
}

// TestEnergyCounterReset: after the counter goes backwards the series
// restarts from the last reading before the reset.
func TestEnergyCounterReset(t *testing.T) {
	n := h100Node()
	s, _ := newTestScraper(t, n.srv)
	uuid := n.devs[0].UUID
	energy := func() pmetric.NumberDataPoint {
		md, err := s.scrape(context.Background())
		require.NoError(t, err)
		dps := findMetric(t, md, uuid, "hw.energy")
		require.Equal(t, 1, dps.Len())
		return dps.At(0)
	}
	n.setEnergy(0, 1_000_000+250_000)
	first := energy()
	assert.InDelta(t, 250.0, first.DoubleValue(), 1e-9)
	time.Sleep(time.Millisecond)
	n.setEnergy(0, 1_000_000+900_000)
	second := energy()
	assert.InDelta(t, 900.0, second.DoubleValue(), 1e-9)
	assert.Equal(t, first.StartTimestamp(), second.StartTimestamp())

	time.Sleep(time.Millisecond)
	n.setEnergy(0, 40_000) // driver reloaded
	third := energy()
	assert.InDelta(t, 40.0, third.DoubleValue(), 1e-9)
	assert.Equal(t, second.Timestamp(), third.StartTimestamp())
	assert.Greater(t, third.StartTimestamp(), first.StartTimestamp())

	// Other GPUs' counters did not reset.
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	assert.Equal(t, first.StartTimestamp(), findMetric(t, md, n.devs[1].UUID, "hw.energy").At(0).StartTimestamp())
}

func TestDeviceFilter(t *testing.T) {
	n := h100Node()
	s, _ := newTestScraper(t, n.srv, func(c *Config) { c.Devices = []string{n.devs[1].UUID, "6"} })
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	var ids []string
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		if v, ok := md.ResourceMetrics().At(i).Resource().Attributes().Get("hw.id"); ok {
			ids = append(ids, v.Str())
		}
	}
	assert.ElementsMatch(t, []string{n.devs[1].UUID, n.devs[6].UUID}, ids)
}

// TestDisabledMetricsSkipCalls: turning a metric off removes its NVML calls.
func TestDisabledMetricsSkipCalls(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*Config)
		calls  int64
	}{
		"ecc and pcie throughput": {func(c *Config) {
			c.Metrics.HwErrors.Enabled = false
			c.Metrics.NvidiaGpuPcieThroughput.Enabled = false
		}, 26 - 4 - 2},
		"gpm": {func(c *Config) {
			c.Metrics.NvidiaGpuSmActivity.Enabled = false
			c.Metrics.NvidiaGpuSmOccupancy.Enabled = false
			c.Metrics.NvidiaGpuTensorActivity.Enabled = false
			c.Metrics.NvidiaGpuDramActivity.Enabled = false
			c.Metrics.NvidiaGpuPipeActivity.Enabled = false
			c.Metrics.NvidiaGpuNvlinkThroughput.Enabled = false
		}, 24},
	} {
		t.Run(name, func(t *testing.T) {
			n := h100Node()
			s, _ := newTestScraper(t, n.srv, tc.mutate)
			_, err := s.scrape(context.Background())
			require.NoError(t, err)
			n.calls.Store(0)
			_, err = s.scrape(context.Background())
			require.NoError(t, err)
			assert.Equal(t, tc.calls*8, n.calls.Load())
		})
	}
}

func TestNoLibrary(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.LibraryPath = "/nonexistent/libnvidia-ml.so.1"
	core, logs := observer.New(zap.InfoLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	s := newScraper(cfg, set, openLibrary)
	host := &statusHost{}
	require.NoError(t, s.start(context.Background(), host))
	defer func() { require.NoError(t, s.shutdown(context.Background())) }()

	for range 2 {
		md, err := s.scrape(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, md.MetricCount())
		dp := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints().At(0)
		assert.Equal(t, int64(0), dp.IntValue())
		v, _ := dp.Attributes().Get("acceltel.receiver")
		assert.Equal(t, "nvml", v.Str())
	}
	require.Equal(t, 1, logs.Len(), "one line, not one per scrape")
	assert.Contains(t, logs.All()[0].ContextMap()["reason"], "NVML library not found")
	require.Len(t, host.events, 1)
	avail, _ := host.events[0].Attributes().Get("acceltel.available")
	assert.False(t, avail.Bool())
}

func TestNoGPUs(t *testing.T) {
	srv := dgxh100.NewWithGPUs()
	s, logs := newTestScraper(t, srv)
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, md.MetricCount())
	assert.Contains(t, logs.All()[0].ContextMap()["reason"], "NVML found 0 GPUs")
}

func TestXIDCounter(t *testing.T) {
	n := h100Node()
	s, _ := newTestScraper(t, n.srv, func(c *Config) { c.XIDEvents = true })
	n.events <- nvml.EventData{Device: n.devs[2], EventType: nvml.EventTypeXidCriticalError, EventData: 79}
	n.events <- nvml.EventData{Device: n.devs[2], EventType: nvml.EventTypeXidCriticalError, EventData: 79}
	n.events <- nvml.EventData{Device: n.devs[2], EventType: nvml.EventTypeXidCriticalError, EventData: 48}
	n.events <- nvml.EventData{Device: n.devs[3], EventType: nvml.EventTypeSingleBitEccError}
	assert.Eventually(t, func() bool {
		md, err := s.scrape(context.Background())
		require.NoError(t, err)
		dps := findMetric(t, md, n.devs[2].UUID, "nvidia.gpu.xid.errors")
		got := map[int64]int64{}
		for i := 0; i < dps.Len(); i++ {
			x, _ := dps.At(i).Attributes().Get("nvidia.gpu.xid")
			got[x.Int()] = dps.At(i).IntValue()
		}
		return got[79] == 2 && got[48] == 1 && findMetric(t, md, n.devs[3].UUID, "nvidia.gpu.xid.errors").Len() == 0
	}, 5*time.Second, 10*time.Millisecond)
}

func TestNormalizeBusID(t *testing.T) {
	assert.Equal(t, "0000:17:00.0", normalizeBusID("00000000:17:00.0"))
	assert.Equal(t, "0001:af:00.0", normalizeBusID("00000001:AF:00.0"))
	assert.Equal(t, "0000:17:00.0", normalizeBusID("0000:17:00.0"))
	assert.Equal(t, "12.4", cudaVersion(12040))
}
