package nvmlreceiver // import "github.com/acceltel/acceltel/receivers/nvmlreceiver"

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"

	"github.com/acceltel/acceltel/receivers/nvmlreceiver/internal/metadata"
)

// GPM (GPU Performance Monitoring, Hopper and newer) reads the SM, tensor,
// DRAM and NVLink counters through NVML, without DCGM and without opening a
// profiling session. A value needs two samples, hence the previous scrape's
// sample is kept and a scrape right after start emits none.

// gpmMinInterval is NVML's advice: samples closer than 100 ms are not
// refreshed yet.
const gpmMinInterval = 100 * time.Millisecond

// gpmSymbols must all resolve before any GPM call is made (R520+; the MIG
// variant is looked up separately).
var gpmSymbols = []string{"nvmlGpmQueryDeviceSupport", "nvmlGpmSampleAlloc", "nvmlGpmSampleFree", "nvmlGpmSampleGet", "nvmlGpmMetricsGet"}

type gpmKind uint8

const (
	gpmSM gpmKind = iota
	gpmOccupancy
	gpmTensor
	gpmDRAM
	gpmPipe
	gpmNVLinkRx
	gpmNVLinkTx
)

type gpmSpec struct {
	id   nvml.GpmMetricId
	kind gpmKind
	pipe metadata.AttributePipe
}

var gpmSpecs = []gpmSpec{
	{id: nvml.GPM_METRIC_SM_UTIL, kind: gpmSM},
	{id: nvml.GPM_METRIC_SM_OCCUPANCY, kind: gpmOccupancy},
	{id: nvml.GPM_METRIC_ANY_TENSOR_UTIL, kind: gpmTensor},
	{id: nvml.GPM_METRIC_DRAM_BW_UTIL, kind: gpmDRAM},
	{id: nvml.GPM_METRIC_FP16_UTIL, kind: gpmPipe, pipe: metadata.AttributePipeFp16},
	{id: nvml.GPM_METRIC_FP32_UTIL, kind: gpmPipe, pipe: metadata.AttributePipeFp32},
	{id: nvml.GPM_METRIC_FP64_UTIL, kind: gpmPipe, pipe: metadata.AttributePipeFp64},
	{id: nvml.GPM_METRIC_NVLINK_TOTAL_RX_PER_SEC, kind: gpmNVLinkRx},
	{id: nvml.GPM_METRIC_NVLINK_TOTAL_TX_PER_SEC, kind: gpmNVLinkTx},
}

func (k gpmKind) enabled(mc metadata.MetricsConfig) bool {
	switch k {
	case gpmSM:
		return mc.NvidiaGpuSmActivity.Enabled
	case gpmOccupancy:
		return mc.NvidiaGpuSmOccupancy.Enabled
	case gpmTensor:
		return mc.NvidiaGpuTensorActivity.Enabled
	case gpmDRAM:
		return mc.NvidiaGpuDramActivity.Enabled
	case gpmPipe:
		return mc.NvidiaGpuPipeActivity.Enabled
	default:
		return mc.NvidiaGpuNvlinkThroughput.Enabled
	}
}

func wantedGPM(mc metadata.MetricsConfig) []gpmSpec {
	var out []gpmSpec
	for _, sp := range gpmSpecs {
		if sp.kind.enabled(mc) {
			out = append(out, sp)
		}
	}
	return out
}

// errGPMUnsupported: the device refused a sample, so GPM is dropped for it.
var errGPMUnsupported = errors.New("GPM not supported")

// gpmState is one GPU's or one GPU instance's pair of samples and the
// request reused at every scrape, so a scrape allocates nothing for it.
type gpmState struct {
	lib    nvml.Interface
	sample func(nvml.GpmSample) nvml.Return
	prev   nvml.GpmSample
	cur    nvml.GpmSample
	at     time.Time // when prev was taken; zero when there is none
	specs  []gpmSpec
	req    nvml.GpmMetricsGetType
	values []float64
	ok     []bool
	fresh  bool // values were computed by the latest update
}

func newGPMState(lib nvml.Interface, specs []gpmSpec, sample func(nvml.GpmSample) nvml.Return) (*gpmState, error) {
	a, ret := lib.GpmSampleAlloc()
	if ret != nvml.SUCCESS {
		return nil, fail("GpmSampleAlloc", ret)
	}
	b, ret := lib.GpmSampleAlloc()
	if ret != nvml.SUCCESS {
		_ = lib.GpmSampleFree(a) // the pair is unusable without its second half
		return nil, fail("GpmSampleAlloc", ret)
	}
	st := &gpmState{lib: lib, sample: sample, prev: a, cur: b, specs: specs,
		values: make([]float64, len(specs)), ok: make([]bool, len(specs))}
	return st, nil
}

// update takes a sample and computes the metrics since the previous one:
// two NVML calls, one when there is no previous sample yet. Metrics the
// device answers NOT_SUPPORTED for (NVLink on a GPU instance, say) are
// dropped from the request and named once.
func (st *gpmState) update(now time.Time, minInterval time.Duration) (dropped []string, err error) {
	st.fresh = false
	if !st.at.IsZero() && now.Sub(st.at) < minInterval {
		return nil, nil // keep the older sample as the base of the next interval
	}
	if ret := st.sample(st.cur); ret != nvml.SUCCESS {
		st.at = time.Time{}
		if ret == nvml.ERROR_NOT_SUPPORTED {
			return nil, errGPMUnsupported
		}
		return nil, fail("GpmSampleGet", ret)
	}
	first := st.at.IsZero()
	st.req.Sample1, st.req.Sample2 = st.prev, st.cur
	st.prev, st.cur, st.at = st.cur, st.prev, now
	if first {
		return nil, nil
	}
	// go-nvml rewrites the whole request, so the ids are set every time.
	st.req.NumMetrics = uint32(len(st.specs))
	for i, sp := range st.specs {
		st.req.Metrics[i] = nvml.GpmMetric{MetricId: uint32(sp.id)}
	}
	switch ret := st.lib.GpmMetricsGet(&st.req); ret {
	case nvml.SUCCESS:
	case nvml.ERROR_NOT_SUPPORTED:
		return nil, errGPMUnsupported
	default:
		return nil, fail("GpmMetricsGet", ret)
	}
	var failed []uint32
	n := 0
	for i := range st.specs {
		m := &st.req.Metrics[i]
		r := nvml.Return(m.NvmlReturn)
		if r == nvml.ERROR_NOT_SUPPORTED {
			dropped = append(dropped, fmt.Sprintf("gpm metric %d", st.specs[i].id))
			continue
		}
		st.specs[n] = st.specs[i]
		v := m.Value
		st.ok[n] = r == nvml.SUCCESS && !math.IsNaN(v) && !math.IsInf(v, 0) && v >= 0
		if st.ok[n] {
			st.values[n] = v
		} else {
			failed = append(failed, uint32(st.specs[i].id))
		}
		n++
	}
	st.specs, st.values, st.ok = st.specs[:n], st.values[:n], st.ok[:n]
	st.fresh = true
	if len(failed) > 0 {
		return dropped, fmt.Errorf("GPM metrics %v failed", failed)
	}
	return dropped, nil
}

// emit records the values of the latest update on the current resource.
func (st *gpmState) emit(mb *metadata.MetricsBuilder, ts pcommon.Timestamp) {
	if !st.fresh {
		return
	}
	for i, sp := range st.specs {
		if !st.ok[i] {
			continue
		}
		v := st.values[i]
		switch sp.kind {
		case gpmSM:
			mb.RecordNvidiaGpuSmActivityDataPoint(ts, v/100)
		case gpmOccupancy:
			mb.RecordNvidiaGpuSmOccupancyDataPoint(ts, v/100)
		case gpmTensor:
			mb.RecordNvidiaGpuTensorActivityDataPoint(ts, v/100)
		case gpmDRAM:
			mb.RecordNvidiaGpuDramActivityDataPoint(ts, v/100)
		case gpmPipe:
			mb.RecordNvidiaGpuPipeActivityDataPoint(ts, v/100, sp.pipe)
		case gpmNVLinkRx: // MiB/s
			mb.RecordNvidiaGpuNvlinkThroughputDataPoint(ts, v*(1<<20), metadata.AttributeDirectionReceive)
		case gpmNVLinkTx:
			mb.RecordNvidiaGpuNvlinkThroughputDataPoint(ts, v*(1<<20), metadata.AttributeDirectionTransmit)
		}
	}
}

func (st *gpmState) free() {
	// Shutting down or replacing the state: nothing is left to read from it.
	_ = st.lib.GpmSampleFree(st.prev)
	_ = st.lib.GpmSampleFree(st.cur)
}

// gpmSupported says whether the driver has GPM and the device supports it;
// why not, when it does not.
func gpmSupported(lib nvml.Interface, dev nvml.Device) (bool, string) {
	for _, sym := range gpmSymbols {
		if lib.Extensions().LookupSymbol(sym) != nil {
			return false, "gpm (driver lacks " + sym + ")"
		}
	}
	sup, ret := dev.GpmQueryDeviceSupport()
	if ret != nvml.SUCCESS || sup.IsSupportedDevice == 0 {
		return false, "gpm"
	}
	return true, ""
}

// probeGPM sets up GPM for a GPU at start; a GPU without it gets the
// reason in its one line of unsupported capabilities.
func (s *nvmlScraper) probeGPM(g *gpu) {
	specs := wantedGPM(s.cfg.Metrics)
	if len(specs) == 0 {
		return
	}
	ok, why := gpmSupported(s.lib, g.dev)
	g.gpmOK = ok
	if !ok {
		g.unsupported = append(g.unsupported, why)
		return
	}
	st, err := newGPMState(s.lib, specs, g.dev.GpmSampleGet)
	if err != nil {
		g.unsupported = append(g.unsupported, "gpm ("+err.Error()+")")
		return
	}
	g.gpm = st
}

// updateGPM runs one GPM update of a GPU (gi < 0) or GPU instance; what
// the device turns out not to support is dropped for good and logged once.
func (s *nvmlScraper) updateGPM(st **gpmState, ts pcommon.Timestamp, uuid string, gi int) error {
	dropped, err := (*st).update(ts.AsTime(), s.gpmMinInterval)
	if len(dropped) > 0 {
		s.logger.Info("GPM metrics not supported; they are not collected",
			gpmWho(uuid, gi, zap.String("unsupported", strings.Join(dropped, ", ")))...)
	}
	if errors.Is(err, errGPMUnsupported) || len((*st).specs) == 0 {
		(*st).free()
		*st = nil
		if err != nil {
			s.logger.Info("GPM refused; GPM metrics are not collected", gpmWho(uuid, gi)...)
		}
		return nil
	}
	return err
}

func gpmWho(uuid string, gi int, more ...zap.Field) []zap.Field {
	fields := append([]zap.Field{zap.String("hw.id", uuid)}, more...)
	if gi >= 0 {
		fields = append(fields, zap.Int("gpu_instance_id", gi))
	}
	return fields
}
