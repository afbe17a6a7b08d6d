package nvmlreceiver // import "github.com/acceltel/acceltel/receivers/nvmlreceiver"

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"

	"github.com/acceltel/acceltel/receivers/nvmlreceiver/internal/metadata"
)

// migRecheck is how often the MIG devices of a GPU in MIG mode are listed
// again; instances are created and destroyed while the GPU runs, and a
// failing call on one of them also triggers a new listing.
const migRecheck = time.Minute

// migDevice is one MIG device (a compute instance in a GPU instance). Its
// data is a resource of its own: the parent GPU's attributes, hw.id
// included, plus the nvidia.gpu.mig.* ones, which is what the cost
// processor bills a slice by.
type migDevice struct {
	dev      nvml.Device
	uuid     string
	gi, ci   int
	resource pcommon.Resource
	pod      podView
}

// migState is what a GPU in MIG mode has now.
type migState struct {
	devices []*migDevice
	gpm     map[int]*gpmState // GPU instance → its samples; GPM is per GPU instance
	stale   bool              // a call failed: list again at the next scrape
}

func (m *migState) free() {
	for _, st := range m.gpm {
		st.free()
	}
	m.gpm = nil
}

// probeMIG lists the MIG devices of a GPU that is in MIG mode at start.
func (s *nvmlScraper) probeMIG(g *gpu, now time.Time) {
	if s.lib.Extensions().LookupSymbol("nvmlDeviceGetMigMode") != nil {
		return
	}
	mode, _, ret := g.dev.GetMigMode()
	if ret != nvml.SUCCESS {
		return // not MIG-capable
	}
	g.migCapable = true
	if mode != nvml.DEVICE_MIG_ENABLE {
		g.migChecked = now
		return
	}
	if err := s.refreshMIG(g, now); err != nil {
		s.logger.Warn("cannot list MIG devices; trying again in a minute", zap.String("hw.id", g.uuid), zap.Error(err))
	}
}

// refreshMIG lists the MIG devices again when it is time to, and rebuilds
// them only when the set changed, so GPM samples survive a listing.
func (s *nvmlScraper) refreshMIG(g *gpu, now time.Time) error {
	if !g.migCapable {
		return nil
	}
	stale := g.mig != nil && g.mig.stale
	if !stale && !g.migChecked.IsZero() && now.Sub(g.migChecked) < migRecheck {
		return nil
	}
	g.migChecked = now
	mode, _, ret := g.dev.GetMigMode()
	if ret != nvml.SUCCESS {
		return fail("GetMigMode", ret)
	}
	if mode != nvml.DEVICE_MIG_ENABLE {
		if g.mig != nil {
			g.mig.free()
			g.mig = nil
		}
		return nil
	}
	devs, err := s.listMIG(g)
	if err != nil {
		return err
	}
	if g.mig != nil && sameMIG(g.mig.devices, devs) {
		g.mig.stale = false
		return nil
	}
	if g.mig != nil {
		g.mig.free()
	}
	g.mig = &migState{devices: devs}
	s.startMIGGPM(g)
	s.logger.Info("MIG devices listed", zap.String("hw.id", g.uuid), zap.Int("count", len(devs)))
	return nil
}

func sameMIG(a, b []*migDevice) bool {
	return slices.EqualFunc(a, b, func(x, y *migDevice) bool { return x.uuid == y.uuid && x.gi == y.gi && x.ci == y.ci })
}

// listMIG reads every MIG device of the GPU and names its resource.
func (s *nvmlScraper) listMIG(g *gpu) ([]*migDevice, error) {
	n, ret := g.dev.GetMaxMigDeviceCount()
	if ret != nvml.SUCCESS {
		return nil, fail("GetMaxMigDeviceCount", ret)
	}
	rc := s.cfg.ResourceAttributes
	var devs []*migDevice
	for i := range n {
		h, ret := g.dev.GetMigDeviceHandleByIndex(i)
		if ret == nvml.ERROR_NOT_FOUND || ret == nvml.ERROR_INVALID_ARGUMENT {
			continue // an empty slot
		}
		if ret != nvml.SUCCESS {
			return nil, fail("GetMigDeviceHandleByIndex", ret)
		}
		m := &migDevice{dev: h}
		if m.uuid, ret = h.GetUUID(); ret != nvml.SUCCESS {
			return nil, fail("GetUUID", ret)
		}
		if m.gi, ret = h.GetGpuInstanceId(); ret != nvml.SUCCESS {
			return nil, fail("GetGpuInstanceId", ret)
		}
		if m.ci, ret = h.GetComputeInstanceId(); ret != nvml.SUCCESS {
			return nil, fail("GetComputeInstanceId", ret)
		}
		m.resource = pcommon.NewResource()
		g.resource.CopyTo(m.resource)
		attrs := m.resource.Attributes()
		if rc.NvidiaGpuMigUUID.Enabled {
			attrs.PutStr("nvidia.gpu.mig.uuid", m.uuid)
		}
		if rc.NvidiaGpuMigGpuInstanceID.Enabled {
			attrs.PutInt("nvidia.gpu.mig.gpu_instance_id", int64(m.gi))
		}
		if rc.NvidiaGpuMigComputeInstanceID.Enabled {
			attrs.PutInt("nvidia.gpu.mig.compute_instance_id", int64(m.ci))
		}
		if name, ret := h.GetName(); ret == nvml.SUCCESS && rc.NvidiaGpuMigProfile.Enabled {
			if p := migProfile(name); p != "" {
				attrs.PutStr("nvidia.gpu.mig.profile", p)
			}
		}
		devs = append(devs, m)
	}
	return devs, nil
}

// migProfile reads the profile out of a MIG device's name, which NVML
// gives as "<GPU name> MIG <profile>" (NVIDIA H100 80GB HBM3 MIG 3g.40gb).
func migProfile(name string) string {
	i := strings.LastIndex(name, "MIG ")
	if i < 0 {
		return ""
	}
	return strings.TrimSpace(name[i+len("MIG "):])
}

// startMIGGPM gives each GPU instance its samples, where the GPU has GPM
// and the driver has nvmlGpmMigSampleGet.
func (s *nvmlScraper) startMIGGPM(g *gpu) {
	g.mig.gpm = map[int]*gpmState{}
	if !g.gpmOK || s.lib.Extensions().LookupSymbol("nvmlGpmMigSampleGet") != nil {
		return
	}
	for _, m := range g.mig.devices {
		if _, ok := g.mig.gpm[m.gi]; ok {
			continue
		}
		specs := wantedGPM(s.cfg.Metrics)
		if len(specs) == 0 {
			return
		}
		gi := m.gi
		st, err := newGPMState(s.lib, specs, func(smp nvml.GpmSample) nvml.Return { return g.dev.GpmMigSampleGet(gi, smp) })
		if err != nil {
			s.logger.Info("no GPM for a MIG GPU instance", zap.String("hw.id", g.uuid), zap.Int("gpu_instance_id", gi), zap.Error(err))
			continue
		}
		g.mig.gpm[gi] = st
	}
}

func memoryWanted(mc metadata.MetricsConfig) bool {
	return mc.HwGpuMemoryUsage.Enabled || mc.HwGpuMemoryLimit.Enabled || mc.NvidiaGpuMemoryFree.Enabled
}

// scrapeMIG emits each MIG device of the GPU as a resource: its memory
// (one call per device) and the GPM of its GPU instance (two calls per
// GPU instance). A failing call marks the list stale, so a reconfigured
// GPU is listed again at the next scrape.
func (s *nvmlScraper) scrapeMIG(g *gpu, ts pcommon.Timestamp) []error {
	var errs []error
	if err := s.refreshMIG(g, ts.AsTime()); err != nil {
		errs = append(errs, fmt.Errorf("%s mig: %w", g.uuid, err))
	}
	if g.mig == nil {
		return errs
	}
	for gi := range g.mig.gpm {
		st := g.mig.gpm[gi]
		if err := s.updateGPM(&st, ts, g.uuid, gi); err != nil {
			errs = append(errs, fmt.Errorf("%s mig gpu instance %d gpm: %w", g.uuid, gi, err))
			g.mig.stale = true
		}
		if st == nil {
			delete(g.mig.gpm, gi)
		}
	}
	memory := memoryWanted(s.cfg.Metrics)
	for _, m := range g.mig.devices {
		if memory {
			if mem, ret := m.dev.GetMemoryInfo(); ret == nvml.SUCCESS {
				s.mb.RecordHwGpuMemoryUsageDataPoint(ts, int64(mem.Used))
				s.mb.RecordHwGpuMemoryLimitDataPoint(ts, int64(mem.Total))
				s.mb.RecordNvidiaGpuMemoryFreeDataPoint(ts, int64(mem.Free))
			} else {
				errs = append(errs, fmt.Errorf("%s memory: %w", m.uuid, fail("GetMemoryInfo", ret)))
				g.mig.stale = g.mig.stale || ret != nvml.ERROR_NOT_SUPPORTED
			}
		}
		if st := g.mig.gpm[m.gi]; st != nil {
			st.emit(s.mb, ts)
		}
		res := m.resource
		if s.pods != nil {
			// The device plugin hands out MIG devices by their UUID.
			ref, ok := s.pods.lookup(m.uuid)
			res = m.pod.resourceFor(m.resource, ref, ok, s.cfg.ResourceAttributes)
		}
		s.mb.EmitForResource(metadata.WithResource(res))
	}
	return errs
}
