package nvmlreceiver

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
)

// fakeNode is a mocked NVML whose devices answer with telemetry that
// depends on the GPU index, so a value in the wrong place shows in a diff.
type fakeNode struct {
	srv  *server.Server
	devs []*server.Device

	calls atomic.Int64 // device calls, to count NVML calls per scrape

	mu        sync.Mutex
	missing   map[string]bool                // symbols the "driver" lacks
	fail      map[int]map[string]nvml.Return // GPU → call → answer
	failField map[int]map[uint32]nvml.Return // GPU → field id → answer
	energy    map[int]uint64                 // GPU → mJ
	nvlinks   int                            // active links per GPU
	eccOff    bool
	events    chan nvml.EventData
	gpm       fakeGPM
	migOn     map[int]bool
	migs      map[int][]*fakeMIG
}

func newFakeNode(srv *server.Server, nvlinks int) *fakeNode {
	n := &fakeNode{
		srv:       srv,
		missing:   map[string]bool{},
		fail:      map[int]map[string]nvml.Return{},
		failField: map[int]map[uint32]nvml.Return{},
		energy:    map[int]uint64{},
		nvlinks:   nvlinks,
		events:    make(chan nvml.EventData, 16),
		migOn:     map[int]bool{},
		migs:      map[int][]*fakeMIG{},
	}
	n.installGPM()
	srv.LookupSymbolFunc = func(sym string) error {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.missing[sym] {
			return fmt.Errorf("undefined symbol: %s", sym)
		}
		return nil
	}
	srv.EventSetCreateFunc = func() (nvml.EventSet, nvml.Return) {
		return &mock.EventSet{
			WaitFunc: func(timeout uint32) (nvml.EventData, nvml.Return) {
				select {
				case ev := <-n.events:
					return ev, nvml.SUCCESS
				case <-time.After(time.Duration(timeout) * time.Millisecond):
					return nvml.EventData{}, nvml.ERROR_TIMEOUT
				}
			},
			FreeFunc: func() nvml.Return { return nvml.SUCCESS },
		}, nvml.SUCCESS
	}
	for i, d := range srv.Devices {
		dev := d.(*server.Device)
		dev.UUID = fmt.Sprintf("GPU-00000000-0000-4000-8000-0000000000%02d", i)
		n.energy[i] = 1_000_000 * uint64(i+1)
		n.devs = append(n.devs, dev)
		n.fill(i, dev)
		n.fillGPM(i, dev)
		n.fillMIG(i, dev)
	}
	return n
}

func (n *fakeNode) setFail(gpu int, call string, ret nvml.Return) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fail[gpu] == nil {
		n.fail[gpu] = map[string]nvml.Return{}
	}
	n.fail[gpu][call] = ret
}

func (n *fakeNode) setEnergy(gpu int, mj uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.energy[gpu] = mj
}

// answer counts the call and says how the device answers it.
func (n *fakeNode) answer(gpu int, call string) nvml.Return {
	n.calls.Add(1)
	n.mu.Lock()
	defer n.mu.Unlock()
	if r, ok := n.fail[gpu][call]; ok {
		return r
	}
	return nvml.SUCCESS
}

func putUint(v *nvml.FieldValue, x uint64) {
	v.ValueType = uint32(nvml.VALUE_TYPE_UNSIGNED_LONG_LONG)
	binary.LittleEndian.PutUint64(v.Value[:], x)
}

func (n *fakeNode) fill(i int, d *server.Device) {
	u := uint32(i)
	d.GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) {
		var p nvml.PciInfo
		for k, c := range fmt.Sprintf("00000000:%02X:00.0", 0x17+i) {
			p.BusId[k] = int8(c)
		}
		p.PciDeviceId = d.Config.PciDeviceId
		return p, nvml.SUCCESS
	}
	d.GetNumaNodeIdFunc = func() (int, nvml.Return) { return i / 4, n.answer(i, "GetNumaNodeId") }
	d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		return nvml.Utilization{Gpu: 90 + u, Memory: 40 + u}, n.answer(i, "GetUtilizationRates")
	}
	d.GetEncoderUtilizationFunc = func() (uint32, uint32, nvml.Return) { return u, 167000, n.answer(i, "GetEncoderUtilization") }
	d.GetDecoderUtilizationFunc = func() (uint32, uint32, nvml.Return) { return 2 * u, 167000, n.answer(i, "GetDecoderUtilization") }
	d.GetMemoryInfo_v2Func = func() (nvml.Memory_v2, nvml.Return) {
		total := d.MemoryInfo.Total
		reserved := uint64(512 << 20)
		used := uint64(i+1) << 30
		return nvml.Memory_v2{Total: total, Reserved: reserved, Used: used, Free: total - reserved - used}, n.answer(i, "GetMemoryInfo_v2")
	}
	d.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
		total := d.MemoryInfo.Total
		used := uint64(i+1) << 30
		return nvml.Memory{Total: total, Used: used, Free: total - used}, n.answer(i, "GetMemoryInfo")
	}
	d.GetBAR1MemoryInfoFunc = func() (nvml.BAR1Memory, nvml.Return) {
		return nvml.BAR1Memory{Bar1Total: 128 << 30, Bar1Used: uint64(i+1) << 20, Bar1Free: 128<<30 - uint64(i+1)<<20}, n.answer(i, "GetBAR1MemoryInfo")
	}
	d.GetPowerUsageFunc = func() (uint32, nvml.Return) { return 650_000 + 1000*u, n.answer(i, "GetPowerUsage") }
	d.GetEnforcedPowerLimitFunc = func() (uint32, nvml.Return) { return 700_000, n.answer(i, "GetEnforcedPowerLimit") }
	d.GetTotalEnergyConsumptionFunc = func() (uint64, nvml.Return) {
		r := n.answer(i, "GetTotalEnergyConsumption")
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.energy[i], r
	}
	d.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 60 + u, n.answer(i, "GetTemperature") }
	d.GetClockInfoFunc = func(c nvml.ClockType) (uint32, nvml.Return) {
		return [...]uint32{1755, 1755, 2619, 0}[c], n.answer(i, "GetClockInfo")
	}
	d.GetMaxClockInfoFunc = func(c nvml.ClockType) (uint32, nvml.Return) {
		return [...]uint32{1980, 1980, 2619, 0}[c], n.answer(i, "GetMaxClockInfo")
	}
	reasons := func() uint64 {
		if i == 5 { // one GPU power-capped and hot
			return nvml.ClocksEventReasonSwPowerCap | nvml.ClocksThrottleReasonHwThermalSlowdown
		}
		return nvml.ClocksEventReasonNone
	}
	d.GetCurrentClocksEventReasonsFunc = func() (uint64, nvml.Return) { return reasons(), n.answer(i, "GetCurrentClocksEventReasons") }
	d.GetCurrentClocksThrottleReasonsFunc = func() (uint64, nvml.Return) {
		return reasons(), n.answer(i, "GetCurrentClocksThrottleReasons")
	}
	d.GetPcieThroughputFunc = func(c nvml.PcieUtilCounter) (uint32, nvml.Return) {
		return 1000*u + uint32(c), n.answer(i, "GetPcieThroughput")
	}
	d.GetPcieReplayCounterFunc = func() (int, nvml.Return) { return i, n.answer(i, "GetPcieReplayCounter") }
	d.GetCurrPcieLinkGenerationFunc = func() (int, nvml.Return) {
		if i == 7 { // a degraded link
			return 3, n.answer(i, "GetCurrPcieLinkGeneration")
		}
		return 5, n.answer(i, "GetCurrPcieLinkGeneration")
	}
	d.GetCurrPcieLinkWidthFunc = func() (int, nvml.Return) { return 16, n.answer(i, "GetCurrPcieLinkWidth") }
	d.GetGpuMaxPcieLinkGenerationFunc = func() (int, nvml.Return) { return 5, n.answer(i, "GetGpuMaxPcieLinkGeneration") }
	d.GetMaxPcieLinkGenerationFunc = func() (int, nvml.Return) { return 5, n.answer(i, "GetMaxPcieLinkGeneration") }
	d.GetMaxPcieLinkWidthFunc = func() (int, nvml.Return) { return 16, n.answer(i, "GetMaxPcieLinkWidth") }
	d.GetTotalEccErrorsFunc = func(t nvml.MemoryErrorType, c nvml.EccCounterType) (uint64, nvml.Return) {
		if n.eccOff {
			n.calls.Add(1)
			return 0, nvml.ERROR_NOT_SUPPORTED
		}
		return uint64(10*int(c) + int(t) + i), n.answer(i, "GetTotalEccErrors")
	}
	d.GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) {
		return i, 0, i == 6, false, n.answer(i, "GetRemappedRows")
	}
	d.GetNvLinkStateFunc = func(link int) (nvml.EnableState, nvml.Return) {
		n.calls.Add(1)
		if link >= n.nvlinks {
			return 0, nvml.ERROR_INVALID_ARGUMENT
		}
		return nvml.FEATURE_ENABLED, nvml.SUCCESS
	}
	d.GetFieldValuesFunc = func(values []nvml.FieldValue) nvml.Return {
		if r := n.answer(i, "GetFieldValues"); r != nvml.SUCCESS {
			return r
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		for k := range values {
			v := &values[k]
			v.NvmlReturn = uint32(nvml.SUCCESS)
			if r, ok := n.failField[i][v.FieldId]; ok {
				v.NvmlReturn = uint32(r)
				continue
			}
			switch {
			case v.FieldId == nvml.FI_DEV_MEMORY_TEMP:
				v.ValueType = uint32(nvml.VALUE_TYPE_UNSIGNED_INT)
				binary.LittleEndian.PutUint32(v.Value[:], 70+u)
			case v.FieldId >= nvml.FI_DEV_PERF_POLICY_POWER && v.FieldId <= nvml.FI_DEV_PERF_POLICY_TOTAL_BASE_CLOCKS:
				putUint(v, uint64(v.FieldId-nvml.FI_DEV_PERF_POLICY_POWER+1)*uint64(i+1)*1e9/2)
			case v.FieldId == nvml.FI_DEV_NVLINK_THROUGHPUT_DATA_TX:
				putUint(v, uint64(v.ScopeId+1)*1000*uint64(i+1))
			case v.FieldId == nvml.FI_DEV_NVLINK_THROUGHPUT_DATA_RX:
				// Some drivers answer doubles; the receiver must read both.
				v.ValueType = uint32(nvml.VALUE_TYPE_DOUBLE)
				binary.LittleEndian.PutUint64(v.Value[:], math.Float64bits(float64(uint64(v.ScopeId+1)*2000*uint64(i+1))))
			default:
				putUint(v, uint64(v.FieldId)+uint64(i))
			}
		}
		return nvml.SUCCESS
	}
	// One training process per GPU, with a pid no real process has.
	pid := uint32(4_000_000 + i)
	d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		return []nvml.ProcessInfo{{Pid: pid, UsedGpuMemory: uint64(i+1) << 30}}, n.answer(i, "GetComputeRunningProcesses")
	}
	d.GetProcessUtilizationFunc = func(since uint64) ([]nvml.ProcessUtilizationSample, nvml.Return) {
		return []nvml.ProcessUtilizationSample{{Pid: pid, TimeStamp: since + 1, SmUtil: 90}}, n.answer(i, "GetProcessUtilization")
	}
	d.GetSupportedEventTypesFunc = func() (uint64, nvml.Return) {
		return nvml.EventTypeXidCriticalError | nvml.EventTypeSingleBitEccError, nvml.SUCCESS
	}
	d.RegisterEventsFunc = func(uint64, nvml.EventSet) nvml.Return { return nvml.SUCCESS }
}
