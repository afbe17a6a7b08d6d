package nvmlreceiver

import (
	"context"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/gpus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// migNode is two H100s: GPU 0 in MIG mode with a 3g.40gb and a 4g.40gb
// instance, GPU 1 whole.
func migNode() (*fakeNode, []*fakeMIG) {
	n := newFakeNode(dgxh100.NewWithGPUs(gpus.H100_SXM5_80GB, gpus.H100_SXM5_80GB), 18)
	a := n.addMIG(0, 1, 0, "3g.40gb", 40320)
	b := n.addMIG(0, 2, 0, "4g.40gb", 40320)
	return n, []*fakeMIG{a, b}
}

func fakePods(m map[string]podRef) *podCache {
	return &podCache{byUUID: m, cancel: func() {}}
}

// migMetric returns the data points of a metric on the MIG device's resource.
func migMetric(md pmetric.Metrics, migUUID, name string) pmetric.NumberDataPointSlice {
	rm, ok := migResource(md, migUUID)
	if !ok {
		return pmetric.NewNumberDataPointSlice()
	}
	ms := rm.ScopeMetrics().At(0).Metrics()
	for k := 0; k < ms.Len(); k++ {
		if m := ms.At(k); m.Name() == name {
			if m.Type() == pmetric.MetricTypeSum {
				return m.Sum().DataPoints()
			}
			return m.Gauge().DataPoints()
		}
	}
	return pmetric.NewNumberDataPointSlice()
}

func migResource(md pmetric.Metrics, migUUID string) (pmetric.ResourceMetrics, bool) {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		if v, ok := rms.At(i).Resource().Attributes().Get("nvidia.gpu.mig.uuid"); ok && v.Str() == migUUID {
			return rms.At(i), true
		}
	}
	return pmetric.ResourceMetrics{}, false
}

func TestMIG(t *testing.T) {
	n, migs := migNode()
	s, logs := newTestScraper(t, n.srv)
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 0, migMetric(md, migs[0].uuid, "nvidia.gpu.sm.activity").Len(), "no previous sample yet")
	require.Equal(t, 1, migMetric(md, migs[0].uuid, "hw.gpu.memory.usage").Len())

	md, err = s.scrape(context.Background())
	require.NoError(t, err)
	compareGolden(t, "h100_mig.yaml", md)
	assert.Equal(t, 2+2+1, md.ResourceMetrics().Len(), "two GPUs, two MIG devices, the availability metric")

	rm, ok := migResource(md, migs[0].uuid)
	require.True(t, ok)
	attrs := rm.Resource().Attributes().AsRaw()
	assert.Equal(t, n.devs[0].UUID, attrs["hw.id"], "hw.id stays the parent GPU's")
	assert.Equal(t, "3g.40gb", attrs["nvidia.gpu.mig.profile"])
	assert.Equal(t, int64(1), attrs["nvidia.gpu.mig.gpu_instance_id"])
	assert.Equal(t, int64(0), attrs["nvidia.gpu.mig.compute_instance_id"])
	assert.Equal(t, "nvidia0", attrs["hw.name"])

	assert.Equal(t, int64(1<<30), migMetric(md, migs[0].uuid, "hw.gpu.memory.usage").At(0).IntValue())
	assert.Equal(t, int64(40320<<20), migMetric(md, migs[1].uuid, "hw.gpu.memory.limit").At(0).IntValue())
	assert.Equal(t, int64(40320<<20-2<<30), migMetric(md, migs[1].uuid, "nvidia.gpu.memory.free").At(0).IntValue())
	assert.InDelta(t, 0.70, migMetric(md, migs[0].uuid, "nvidia.gpu.sm.activity").At(0).DoubleValue(), 1e-12)
	assert.InDelta(t, 0.70, migMetric(md, migs[1].uuid, "nvidia.gpu.tensor.activity").At(0).DoubleValue(), 1e-12)
	assert.Equal(t, 0, migMetric(md, migs[0].uuid, "nvidia.gpu.nvlink.throughput").Len(), "dropped: not supported per GPU instance")
	assert.Equal(t, 0, migMetric(md, migs[0].uuid, "hw.power").Len(), "the board's own metrics stay on the GPU")

	// The parent keeps what it supports in MIG mode, and its own GPM.
	assert.Equal(t, 0, findMetric(t, md, n.devs[0].UUID, "hw.gpu.utilization").Len())
	assert.Equal(t, 1, findMetric(t, md, n.devs[0].UUID, "hw.power").Len())
	assert.Equal(t, 1, findMetric(t, md, n.devs[0].UUID, "nvidia.gpu.sm.activity").Len())
	assert.Equal(t, 3, findMetric(t, md, n.devs[1].UUID, "hw.gpu.utilization").Len())

	unsupported := logs.FilterMessage("GPU does not support some metrics; they are not collected")
	require.Equal(t, 1, unsupported.Len(), "GPU 0 only")
	assert.Equal(t, "utilization, encoder_utilization, decoder_utilization", unsupported.All()[0].ContextMap()["unsupported"])
	assert.Equal(t, 2, logs.FilterMessage("GPM metrics not supported; they are not collected").Len(), "once per GPU instance")
	assert.Equal(t, 1, logs.FilterMessage("MIG devices listed").Len())
}

// TestMIGCallsPerScrape pins the README's count for a GPU in MIG mode: the
// GPU's own calls it supports, one memory call per MIG device and two GPM
// calls per GPU instance.
func TestMIGCallsPerScrape(t *testing.T) {
	n, _ := migNode()
	s, _ := newTestScraper(t, n.srv)
	for range 2 {
		_, err := s.scrape(context.Background())
		require.NoError(t, err)
	}
	n.calls.Store(0)
	_, err := s.scrape(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64((21+2+2*1+2*2)+26), n.calls.Load())
}

// TestMIGReconfigured: a destroyed instance fails its calls, which lists
// the devices again at the next scrape; a new one appears at the latest
// after a minute. Samples of the old list are freed.
func TestMIGReconfigured(t *testing.T) {
	n, migs := migNode()
	s, logs := newTestScraper(t, n.srv)
	for range 2 {
		_, err := s.scrape(context.Background())
		require.NoError(t, err)
	}
	n.removeMIG(0, 2)
	added := n.addMIG(0, 3, 0, "2g.20gb", 20160)

	_, err := s.scrape(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), migs[1].uuid+" memory: GetMemoryInfo")

	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	_, ok := migResource(md, migs[1].uuid)
	assert.False(t, ok)
	_, ok = migResource(md, added.uuid)
	assert.True(t, ok)
	assert.Equal(t, 2, logs.FilterMessage("MIG devices listed").Len())
	assert.Equal(t, 8, n.liveSamples(), "two GPUs and two GPU instances, two samples each")

	md, err = s.scrape(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, migMetric(md, added.uuid, "nvidia.gpu.sm.activity").Len())

	// Created quietly: found at the next listing, a minute later.
	later := n.addMIG(0, 4, 0, "1g.10gb", 9856)
	md, err = s.scrape(context.Background())
	require.NoError(t, err)
	_, ok = migResource(md, later.uuid)
	assert.False(t, ok)
	s.gpus[0].migChecked = s.gpus[0].migChecked.Add(-2 * time.Minute)
	md, err = s.scrape(context.Background())
	require.NoError(t, err)
	_, ok = migResource(md, later.uuid)
	assert.True(t, ok)

	require.NoError(t, s.shutdown(context.Background()))
	assert.Equal(t, 0, n.liveSamples())
}

// TestMIGPod: the device plugin hands out MIG devices by UUID, so a MIG
// device's resource names the pod that holds it.
func TestMIGPod(t *testing.T) {
	n, migs := migNode()
	s, _ := newTestScraper(t, n.srv)
	s.pods = fakePods(map[string]podRef{migs[1].uuid: {pod: "train-0", namespace: "ml", container: "main"}})
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	rm, ok := migResource(md, migs[1].uuid)
	require.True(t, ok)
	pod, _ := rm.Resource().Attributes().Get("k8s.pod.name")
	assert.Equal(t, "train-0", pod.Str())
	rm, _ = migResource(md, migs[0].uuid)
	_, ok = rm.Resource().Attributes().Get("k8s.pod.name")
	assert.False(t, ok)
	_, ok = resourceOf(md, n.devs[0].UUID).Attributes().Get("k8s.pod.name")
	assert.False(t, ok)
}

func TestMIGProfile(t *testing.T) {
	assert.Equal(t, "3g.40gb", migProfile("NVIDIA H100 80GB HBM3 MIG 3g.40gb"))
	assert.Equal(t, "1c.3g.40gb", migProfile("NVIDIA A100-SXM4-80GB MIG 1c.3g.40gb"))
	assert.Empty(t, migProfile("NVIDIA H100 80GB HBM3"))
}
