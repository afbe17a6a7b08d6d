package nvmlreceiver

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"google.golang.org/grpc"
	podresourcesapi "k8s.io/kubelet/pkg/apis/podresources/v1"
)

// processResources maps pid → resource attributes and metrics of the
// per-process resources of one GPU.
func processResources(md pmetric.Metrics, uuid string) map[int64]pmetric.ResourceMetrics {
	out := map[int64]pmetric.ResourceMetrics{}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		attrs := rms.At(i).Resource().Attributes()
		id, _ := attrs.Get("hw.id")
		pid, ok := attrs.Get("process.pid")
		if ok && id.Str() == uuid {
			out[pid.Int()] = rms.At(i)
		}
	}
	return out
}

func metricValue(rm pmetric.ResourceMetrics, name string) (pmetric.NumberDataPoint, bool) {
	ms := rm.ScopeMetrics().At(0).Metrics()
	for i := 0; i < ms.Len(); i++ {
		if m := ms.At(i); m.Name() == name {
			if m.Type() == pmetric.MetricTypeSum {
				return m.Sum().DataPoints().At(0), true
			}
			return m.Gauge().DataPoints().At(0), true
		}
	}
	return pmetric.NumberDataPoint{}, false
}

func TestProcessAttribution(t *testing.T) {
	root := t.TempDir()
	writeProc(t, root, 4242, "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b4e28ba_2fa1_11d2_883f_0016d3cca427.slice/cri-containerd-"+testCID+".scope\n")
	writeProc(t, root, 5151, "0::/user.slice/user-1000.slice/session-3.scope\n")

	n := h100Node()
	var lastSeen []uint64
	n.devs[1].GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		return []nvml.ProcessInfo{{Pid: 4242, UsedGpuMemory: 30 << 30}, {Pid: 5151, UsedGpuMemory: 1 << 30}}, nvml.SUCCESS
	}
	n.devs[1].GetProcessUtilizationFunc = func(since uint64) ([]nvml.ProcessUtilizationSample, nvml.Return) {
		lastSeen = append(lastSeen, since)
		return []nvml.ProcessUtilizationSample{
			{Pid: 4242, TimeStamp: 100, SmUtil: 50},
			{Pid: 4242, TimeStamp: 200, SmUtil: 97},
		}, nvml.SUCCESS
	}
	for i, d := range n.devs {
		if i == 1 {
			continue
		}
		d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) { return nil, nvml.SUCCESS }
		d.GetProcessUtilizationFunc = func(uint64) ([]nvml.ProcessUtilizationSample, nvml.Return) { return nil, nvml.ERROR_NOT_FOUND }
	}
	s, _ := newTestScraper(t, n.srv, func(c *Config) {
		c.RootPath = root
		c.Metrics.NvidiaGpuProcessMemoryUsage.Enabled = true
		c.Metrics.NvidiaGpuProcessSmUtilization.Enabled = true
	})
	for range 2 {
		md, err := s.scrape(context.Background())
		require.NoError(t, err)
		procs := processResources(md, n.devs[1].UUID)
		require.Len(t, procs, 2)

		train := procs[4242]
		cid, _ := train.Resource().Attributes().Get("container.id")
		pod, _ := train.Resource().Attributes().Get("k8s.pod.uid")
		bus, _ := train.Resource().Attributes().Get("pci.bus_id")
		assert.Equal(t, testCID, cid.Str())
		assert.Equal(t, testPod, pod.Str())
		assert.Equal(t, "0000:18:00.0", bus.Str(), "the GPU's resource attributes are kept")
		mem, ok := metricValue(train, "nvidia.gpu.process.memory.usage")
		require.True(t, ok)
		assert.Equal(t, int64(30<<30), mem.IntValue())
		sm, ok := metricValue(train, "nvidia.gpu.process.sm.utilization")
		require.True(t, ok)
		assert.InDelta(t, 0.97, sm.DoubleValue(), 1e-9, "the newest sample")

		shell := procs[5151]
		_, hasCID := shell.Resource().Attributes().Get("container.id")
		assert.False(t, hasCID)
		_, hasSM := metricValue(shell, "nvidia.gpu.process.sm.utilization")
		assert.False(t, hasSM, "no sample, no point")
		assert.Empty(t, processResources(md, n.devs[0].UUID))
	}
	assert.Equal(t, []uint64{0, 200}, lastSeen, "the second scrape asks only for newer samples")
	assert.Len(t, s.owners, 2)
}

type fakePodResources struct {
	podresourcesapi.UnimplementedPodResourcesListerServer
	resp *podresourcesapi.ListPodResourcesResponse
}

func (f *fakePodResources) List(context.Context, *podresourcesapi.ListPodResourcesRequest) (*podresourcesapi.ListPodResourcesResponse, error) {
	return f.resp, nil
}

func TestPodResources(t *testing.T) {
	n := h100Node()
	socket := filepath.Join(t.TempDir(), "kubelet.sock")
	lis, err := net.Listen("unix", socket)
	require.NoError(t, err)
	srv := grpc.NewServer()
	podresourcesapi.RegisterPodResourcesListerServer(srv, &fakePodResources{resp: &podresourcesapi.ListPodResourcesResponse{
		PodResources: []*podresourcesapi.PodResources{{
			Name: "llama-train-0", Namespace: "ml",
			Containers: []*podresourcesapi.ContainerResources{{
				Name: "trainer",
				Devices: []*podresourcesapi.ContainerDevices{
					{ResourceName: "nvidia.com/gpu", DeviceIds: []string{n.devs[0].UUID, n.devs[3].UUID + "::1"}},
				},
			}},
		}},
	}})
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	s, _ := newTestScraper(t, n.srv, func(c *Config) {
		c.PodResourcesSocket = socket
		c.CollectionInterval = 20 * time.Millisecond
	})
	podOf := func(md pmetric.Metrics, uuid string) string {
		v, _ := resourceOf(md, uuid).Attributes().Get("k8s.pod.name")
		return v.Str()
	}
	require.Eventually(t, func() bool {
		md, err := s.scrape(context.Background())
		require.NoError(t, err)
		return podOf(md, n.devs[0].UUID) == "llama-train-0"
	}, 5*time.Second, 10*time.Millisecond)
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	attrs := resourceOf(md, n.devs[3].UUID).Attributes()
	for k, want := range map[string]string{"k8s.pod.name": "llama-train-0", "k8s.namespace.name": "ml", "k8s.container.name": "trainer"} {
		v, _ := attrs.Get(k)
		assert.Equal(t, want, v.Str(), k)
	}
	assert.Equal(t, "", podOf(md, n.devs[1].UUID))
}

// TestPodResourcesAbsent: no kubelet is normal; the scrape is not delayed
// and the GPU has no pod.
func TestPodResourcesAbsent(t *testing.T) {
	n := h100Node()
	s, logs := newTestScraper(t, n.srv, func(c *Config) {
		c.PodResourcesSocket = filepath.Join(t.TempDir(), "missing.sock")
		c.CollectionInterval = 10 * time.Millisecond
	})
	time.Sleep(50 * time.Millisecond)
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	_, ok := resourceOf(md, n.devs[0].UUID).Attributes().Get("k8s.pod.name")
	assert.False(t, ok)
	assert.Equal(t, 1, logs.FilterMessage("kubelet pod-resources not available; GPUs are not attributed to pods").Len())
}
