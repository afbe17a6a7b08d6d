package nvmlreceiver

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
)

// fakeSample is a GPM sample of the mock: which GPU (and GPU instance, -1
// for the whole GPU) it was taken on and when, so GpmMetricsGet can check
// it is given two samples of the same thing, oldest first.
type fakeSample struct {
	mock.GpmSample
	gpu, gi int
	seq     int64
}

// gpmState of the mock, under fakeNode.mu.
type fakeGPM struct {
	live       map[*fakeSample]bool
	allocs     int
	seq        int64
	failMetric map[int]map[uint32]nvml.Return // GPU → metric → answer
}

// gpmPercent is the value the mock gives a percentage metric: distinct per
// GPU, GPU instance and metric, so a value in the wrong place shows.
func gpmValue(gpu, gi int, id uint32) float64 {
	base := float64(gpu)
	if gi >= 0 {
		base = float64(10 * (gi + 1))
	}
	switch nvml.GpmMetricId(id) {
	case nvml.GPM_METRIC_SM_UTIL:
		return 50 + base
	case nvml.GPM_METRIC_SM_OCCUPANCY:
		return 30 + base
	case nvml.GPM_METRIC_ANY_TENSOR_UTIL:
		return 40 + base
	case nvml.GPM_METRIC_DRAM_BW_UTIL:
		return 20 + base
	case nvml.GPM_METRIC_FP16_UTIL:
		return 10 + base
	case nvml.GPM_METRIC_FP32_UTIL:
		return 5 + base
	case nvml.GPM_METRIC_FP64_UTIL:
		return 1 + base
	case nvml.GPM_METRIC_NVLINK_TOTAL_RX_PER_SEC:
		return 1000 * (base + 1)
	case nvml.GPM_METRIC_NVLINK_TOTAL_TX_PER_SEC:
		return 500 * (base + 1)
	}
	return 0
}

func (n *fakeNode) installGPM() {
	n.gpm = fakeGPM{live: map[*fakeSample]bool{}, failMetric: map[int]map[uint32]nvml.Return{}}
	n.srv.GpmSampleAllocFunc = func() (nvml.GpmSample, nvml.Return) {
		n.mu.Lock()
		defer n.mu.Unlock()
		s := &fakeSample{gpu: -1}
		n.gpm.live[s] = true
		n.gpm.allocs++
		return s, nvml.SUCCESS
	}
	n.srv.GpmSampleFreeFunc = func(s nvml.GpmSample) nvml.Return {
		n.mu.Lock()
		defer n.mu.Unlock()
		fs, _ := s.(*fakeSample)
		if !n.gpm.live[fs] {
			panic("GpmSampleFree of a sample that is not allocated")
		}
		delete(n.gpm.live, fs)
		return nvml.SUCCESS
	}
	n.srv.GpmMetricsGetFunc = func(mg *nvml.GpmMetricsGetType) nvml.Return {
		s1, _ := mg.Sample1.(*fakeSample)
		s2, _ := mg.Sample2.(*fakeSample)
		if s1 == nil || s2 == nil || s1.gpu != s2.gpu || s1.gi != s2.gi || s1.seq >= s2.seq || s1.gpu < 0 {
			n.calls.Add(1)
			return nvml.ERROR_INVALID_ARGUMENT
		}
		if r := n.answer(s2.gpu, "GpmMetricsGet"); r != nvml.SUCCESS {
			return r
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		for i := range mg.NumMetrics {
			m := &mg.Metrics[i]
			m.NvmlReturn = uint32(nvml.SUCCESS)
			m.Value = gpmValue(s2.gpu, s2.gi, m.MetricId)
			if r, ok := n.gpm.failMetric[s2.gpu][m.MetricId]; ok {
				m.NvmlReturn, m.Value = uint32(r), 0
			}
			nvlink := m.MetricId == uint32(nvml.GPM_METRIC_NVLINK_TOTAL_RX_PER_SEC) || m.MetricId == uint32(nvml.GPM_METRIC_NVLINK_TOTAL_TX_PER_SEC)
			if s2.gi >= 0 && nvlink { // the mock's GPU instances have no NVLink counters
				m.NvmlReturn, m.Value = uint32(nvml.ERROR_NOT_SUPPORTED), 0
			}
		}
		return nvml.SUCCESS
	}
}

// take fills a sample as the driver would.
func (n *fakeNode) take(s nvml.GpmSample, gpu, gi int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	fs := s.(*fakeSample)
	if !n.gpm.live[fs] {
		panic("GPM sample used after it was freed")
	}
	n.gpm.seq++
	fs.gpu, fs.gi, fs.seq = gpu, gi, n.gpm.seq
}

func (n *fakeNode) liveSamples() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.gpm.live)
}

func (n *fakeNode) fillGPM(i int, d *server.Device) {
	hopper := d.Config.Architecture >= nvml.DEVICE_ARCH_HOPPER
	d.GpmQueryDeviceSupportFunc = func() (nvml.GpmSupport, nvml.Return) {
		n.calls.Add(1)
		if !hopper {
			return nvml.GpmSupport{Version: 1}, nvml.SUCCESS
		}
		return nvml.GpmSupport{Version: 1, IsSupportedDevice: 1}, nvml.SUCCESS
	}
	if !hopper {
		return // a call would panic: the receiver must not make one
	}
	d.GpmSampleGetFunc = func(s nvml.GpmSample) nvml.Return {
		if r := n.answer(i, "GpmSampleGet"); r != nvml.SUCCESS {
			return r
		}
		n.take(s, i, -1)
		return nvml.SUCCESS
	}
	d.GpmMigSampleGetFunc = func(gi int, s nvml.GpmSample) nvml.Return {
		if r := n.answer(i, "GpmMigSampleGet"); r != nvml.SUCCESS {
			return r
		}
		n.mu.Lock()
		found := false
		for _, m := range n.migs[i] {
			found = found || m.gi == gi
		}
		n.mu.Unlock()
		if !found {
			return nvml.ERROR_NOT_FOUND
		}
		n.take(s, i, gi)
		return nvml.SUCCESS
	}
}

// fakeMIG is a MIG device of the mock.
type fakeMIG struct {
	*mock.Device
	uuid   string
	gi, ci int
}

// fillMIG gives GPU i MIG mode when it has MIG devices; in MIG mode the
// whole-GPU utilization calls answer NOT_SUPPORTED, as on real GPUs.
func (n *fakeNode) fillMIG(i int, d *server.Device) {
	d.GetMigModeFunc = func() (int, int, nvml.Return) {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.calls.Add(1)
		mode := nvml.DEVICE_MIG_DISABLE
		if n.migOn[i] {
			mode = nvml.DEVICE_MIG_ENABLE
		}
		return mode, mode, nvml.SUCCESS
	}
	d.GetMaxMigDeviceCountFunc = func() (int, nvml.Return) { return 7, n.answer(i, "GetMaxMigDeviceCount") }
	d.GetMigDeviceHandleByIndexFunc = func(k int) (nvml.Device, nvml.Return) {
		if r := n.answer(i, "GetMigDeviceHandleByIndex"); r != nvml.SUCCESS {
			return nil, r
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		if k >= len(n.migs[i]) {
			return nil, nvml.ERROR_NOT_FOUND
		}
		return n.migs[i][k], nvml.SUCCESS
	}
}

// addMIG turns MIG mode on for GPU i (before start) and adds a MIG device.
func (n *fakeNode) addMIG(i, gi, ci int, profile string, memMiB uint64) *fakeMIG {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.migOn[i] {
		n.migOn[i] = true
		if n.fail[i] == nil {
			n.fail[i] = map[string]nvml.Return{}
		}
		for _, call := range []string{"GetUtilizationRates", "GetEncoderUtilization", "GetDecoderUtilization"} {
			n.fail[i][call] = nvml.ERROR_NOT_SUPPORTED
		}
	}
	m := &fakeMIG{Device: &mock.Device{}, uuid: fmt.Sprintf("MIG-00000000-0000-4000-8000-%04d%04d%04d", i, gi, ci), gi: gi, ci: ci}
	name := n.devs[i].Config.Name + " MIG " + profile
	m.GetUUIDFunc = func() (string, nvml.Return) { n.calls.Add(1); return m.uuid, nvml.SUCCESS }
	m.GetGpuInstanceIdFunc = func() (int, nvml.Return) { n.calls.Add(1); return m.gi, nvml.SUCCESS }
	m.GetComputeInstanceIdFunc = func() (int, nvml.Return) { n.calls.Add(1); return m.ci, nvml.SUCCESS }
	m.GetNameFunc = func() (string, nvml.Return) { n.calls.Add(1); return name, nvml.SUCCESS }
	m.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
		total := memMiB << 20
		used := uint64(gi) << 30
		return nvml.Memory{Total: total, Used: used, Free: total - used}, n.answer(i, "GetMemoryInfo "+m.uuid)
	}
	n.migs[i] = append(n.migs[i], m)
	return m
}

// removeMIG destroys the MIG devices of GPU i in GPU instance gi; their
// handles go stale, as the driver's do.
func (n *fakeNode) removeMIG(i, gi int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	kept := n.migs[i][:0]
	for _, m := range n.migs[i] {
		if m.gi == gi {
			m.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
				n.calls.Add(1)
				return nvml.Memory{}, nvml.ERROR_INVALID_ARGUMENT
			}
			continue
		}
		kept = append(kept, m)
	}
	n.migs[i] = kept
}
