package nvmlreceiver

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/scraper/scrapererror"
)

var gpmMetricNames = []string{
	"nvidia.gpu.sm.activity", "nvidia.gpu.sm.occupancy", "nvidia.gpu.tensor.activity",
	"nvidia.gpu.dram.activity", "nvidia.gpu.pipe.activity", "nvidia.gpu.nvlink.throughput",
}

// onlyMetrics keeps the named metrics and the resources that have any.
func onlyMetrics(md pmetric.Metrics, names []string) pmetric.Metrics {
	out := pmetric.NewMetrics()
	md.CopyTo(out)
	out.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool {
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool { return !slices.Contains(names, m.Name()) })
			return sm.Metrics().Len() == 0
		})
		return rm.ScopeMetrics().Len() == 0
	})
	return out
}

func countGPM(md pmetric.Metrics) int {
	return onlyMetrics(md, gpmMetricNames).DataPointCount()
}

// TestGPM8xH100: nothing on the first scrape (one sample only), then the
// metrics between the two samples, as ratios and bytes per second.
func TestGPM8xH100(t *testing.T) {
	n := h100Node()
	s, _ := newTestScraper(t, n.srv)
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 0, countGPM(md), "no previous sample yet")

	md, err = s.scrape(context.Background())
	require.NoError(t, err)
	compareGolden(t, "h100x8_gpm.yaml", onlyMetrics(md, gpmMetricNames))

	uuid := n.devs[3].UUID
	sm := findMetric(t, md, uuid, "nvidia.gpu.sm.activity")
	require.Equal(t, 1, sm.Len())
	assert.InDelta(t, 0.53, sm.At(0).DoubleValue(), 1e-12)
	nv := findMetric(t, md, uuid, "nvidia.gpu.nvlink.throughput")
	require.Equal(t, 2, nv.Len())
	for i := 0; i < nv.Len(); i++ {
		dir, _ := nv.At(i).Attributes().Get("network.io.direction")
		want := 4000.0 * (1 << 20) // 1000 MiB/s × (GPU 3 + 1)
		if dir.Str() == "transmit" {
			want /= 2
		}
		assert.InDelta(t, want, nv.At(i).DoubleValue(), 1e-3, dir.Str())
	}
	assert.Equal(t, 3, findMetric(t, md, uuid, "nvidia.gpu.pipe.activity").Len())
}

// TestGPMNotOnAmpere: an A100 has no GPM; it is named once among the
// unsupported capabilities and no GPM call is made (the mock would panic).
func TestGPMNotOnAmpere(t *testing.T) {
	n := newFakeNode(dgxa100.New(), 12)
	s, logs := newTestScraper(t, n.srv)
	for range 3 {
		md, err := s.scrape(context.Background())
		require.NoError(t, err)
		assert.Equal(t, 0, countGPM(md))
	}
	unsupported := logs.FilterMessage("GPU does not support some metrics; they are not collected")
	require.Equal(t, 8, unsupported.Len())
	assert.Contains(t, unsupported.All()[0].ContextMap()["unsupported"], "gpm")
	assert.Equal(t, 0, n.gpm.allocs)
}

// TestGPMDriverLacksSymbol: a driver older than GPM is never asked.
func TestGPMDriverLacksSymbol(t *testing.T) {
	n := h100Node()
	n.missing["nvmlGpmMetricsGet"] = true
	for _, d := range n.devs {
		d.GpmQueryDeviceSupportFunc = nil
		d.GpmSampleGetFunc = nil
	}
	s, logs := newTestScraper(t, n.srv)
	for range 2 {
		md, err := s.scrape(context.Background())
		require.NoError(t, err)
		assert.Equal(t, 0, countGPM(md))
	}
	unsupported := logs.FilterMessage("GPU does not support some metrics; they are not collected")
	require.Equal(t, 8, unsupported.Len())
	assert.Equal(t, "gpm (driver lacks nvmlGpmMetricsGet)", unsupported.All()[0].ContextMap()["unsupported"])
}

// TestGPMSamplesFreed: two samples per GPU, allocated once, freed at shutdown.
func TestGPMSamplesFreed(t *testing.T) {
	n := h100Node()
	s, _ := newTestScraper(t, n.srv)
	for range 3 {
		_, err := s.scrape(context.Background())
		require.NoError(t, err)
	}
	assert.Equal(t, 16, n.gpm.allocs)
	require.NoError(t, s.shutdown(context.Background()))
	assert.Equal(t, 0, n.liveSamples())
}

// TestGPMMinInterval: scrapes closer than NVML's 100 ms make no GPM call and
// keep the older sample as the base.
func TestGPMMinInterval(t *testing.T) {
	n := h100Node()
	s, _ := newTestScraper(t, n.srv)
	s.gpmMinInterval = time.Hour
	_, err := s.scrape(context.Background())
	require.NoError(t, err)
	n.calls.Store(0)
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 0, countGPM(md))
	assert.Equal(t, int64(24*8), n.calls.Load())
}

// TestGPMFailures: a failing metric costs only its own point; a failing
// sample costs the GPU's GPM for one scrape; a device that refuses samples
// loses GPM for good, with one log line.
func TestGPMFailures(t *testing.T) {
	n := h100Node()
	s, logs := newTestScraper(t, n.srv)
	_, err := s.scrape(context.Background())
	require.NoError(t, err)
	n.mu.Lock()
	n.gpm.failMetric[1] = map[uint32]nvml.Return{uint32(nvml.GPM_METRIC_FP64_UTIL): nvml.ERROR_UNKNOWN}
	n.gpm.failMetric[2] = map[uint32]nvml.Return{uint32(nvml.GPM_METRIC_SM_OCCUPANCY): nvml.ERROR_NOT_SUPPORTED}
	n.mu.Unlock()
	n.setFail(4, "GpmSampleGet", nvml.ERROR_UNKNOWN)
	n.setFail(5, "GpmSampleGet", nvml.ERROR_NOT_SUPPORTED)

	md, err := s.scrape(context.Background())
	require.Error(t, err)
	assert.True(t, scrapererror.IsPartialScrapeError(err))
	assert.Contains(t, err.Error(), n.devs[1].UUID+" gpm: GPM metrics [11] failed")
	assert.Contains(t, err.Error(), n.devs[4].UUID+" gpm: GpmSampleGet")
	assert.NotContains(t, err.Error(), n.devs[2].UUID)
	assert.NotContains(t, err.Error(), n.devs[5].UUID)
	assert.Equal(t, 2, findMetric(t, md, n.devs[1].UUID, "nvidia.gpu.pipe.activity").Len())
	assert.Equal(t, 0, findMetric(t, md, n.devs[2].UUID, "nvidia.gpu.sm.occupancy").Len())
	assert.Equal(t, 1, findMetric(t, md, n.devs[2].UUID, "nvidia.gpu.sm.activity").Len())
	assert.Equal(t, 0, findMetric(t, md, n.devs[4].UUID, "nvidia.gpu.sm.activity").Len())
	assert.Equal(t, 0, findMetric(t, md, n.devs[5].UUID, "nvidia.gpu.sm.activity").Len())
	assert.Equal(t, 1, logs.FilterMessage("GPM refused; GPM metrics are not collected").Len())
	assert.Equal(t, 1, logs.FilterMessage("GPM metrics not supported; they are not collected").Len())

	// GPU 4 recovers: its next sample is a first one again.
	n.setFail(4, "GpmSampleGet", nvml.SUCCESS)
	for range 3 {
		md, err = s.scrape(context.Background())
	}
	assert.Equal(t, 1, findMetric(t, md, n.devs[4].UUID, "nvidia.gpu.sm.activity").Len())
	assert.Equal(t, 0, findMetric(t, md, n.devs[5].UUID, "nvidia.gpu.sm.activity").Len())
	assert.Equal(t, 1, logs.FilterMessage("GPM refused; GPM metrics are not collected").Len(), "said once")
	assert.Equal(t, 14, n.liveSamples(), "GPU 5's samples were freed when it refused")
	assert.Error(t, err, "GPU 1's FP64 still fails")
}
