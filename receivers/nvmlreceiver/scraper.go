package nvmlreceiver // import "github.com/acceltel/acceltel/receivers/nvmlreceiver"

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"

	"github.com/acceltel/acceltel/internal/attribution"
	"github.com/acceltel/acceltel/receivers/nvmlreceiver/internal/metadata"
)

// openLibrary is how the receiver reaches the real NVML; tests pass a mock.
func openLibrary(path string) nvml.Interface {
	if path == "" {
		return nvml.New()
	}
	return nvml.New(nvml.WithLibraryPath(path))
}

type nvmlScraper struct {
	cfg    *Config
	logger *zap.Logger
	mb     *metadata.MetricsBuilder
	open   func(path string) nvml.Interface

	// logs receives a log record per XID event; nil without a logs pipeline.
	// logsObs counts them in the collector's receiver telemetry.
	logs    consumer.Logs
	logsObs *receiverhelper.ObsReport
	set     receiver.Settings

	gpmMinInterval time.Duration

	lib       nvml.Interface
	gpus      []*gpu
	available bool
	status    *componentstatus.Event
	xid       *xidWatcher
	pods      *podCache
	owners    map[uint32]attribution.Owner // pid → cgroup owner, for live GPU processes
	seen      map[uint32]bool
	mu        sync.Mutex // serialises scrape with shutdown
}

func newScraper(cfg *Config, set receiver.Settings, open func(string) nvml.Interface) *nvmlScraper {
	return &nvmlScraper{
		cfg:            cfg,
		logger:         set.Logger,
		set:            set,
		mb:             metadata.NewMetricsBuilder(cfg.MetricsBuilderConfig, set),
		open:           open,
		gpmMinInterval: gpmMinInterval,
		owners:         map[uint32]attribution.Owner{},
		seen:           map[uint32]bool{},
	}
}

// start never fails for missing hardware: a node without GPUs runs the
// same configuration as one with them.
func (s *nvmlScraper) start(_ context.Context, host component.Host) error {
	reason := s.init()
	attrs := pcommon.NewMap()
	attrs.PutBool("acceltel.available", s.available)
	if s.available {
		attrs.PutInt("acceltel.gpus", int64(len(s.gpus)))
		s.logger.Info("NVML loaded", zap.Int("gpus", len(s.gpus)))
	} else {
		attrs.PutStr("acceltel.reason", reason)
		s.logger.Info("no NVIDIA GPU available; the receiver stays idle until restarted", zap.String("reason", reason))
	}
	s.status = componentstatus.NewEvent(componentstatus.StatusOK, componentstatus.WithAttributes(attrs))
	if host != nil {
		componentstatus.ReportStatus(host, s.status)
	}
	// The pod cache first: XID log records are named with the GPU's pod.
	if s.available && s.cfg.PodResourcesSocket != "" {
		s.pods = startPodCache(s.cfg.PodResourcesSocket, s.cfg.CollectionInterval, s.logger)
	}
	if s.available && s.logs != nil && !s.cfg.XIDEvents {
		s.logger.Info("a logs pipeline uses the receiver but xid_events is false: it gets no log records")
	}
	if s.available && s.cfg.XIDEvents && (s.cfg.Metrics.NvidiaGpuXidErrors.Enabled || s.logs != nil) {
		var emit xidEmitter
		if s.logs != nil {
			emit = s.xidLogger()
		}
		s.xid = startXIDWatcher(s.lib, s.gpus, s.logger, emit)
	}
	return nil
}

// init loads NVML and probes the devices; it returns why no GPU is usable.
func (s *nvmlScraper) init() string {
	lib := s.open(s.cfg.LibraryPath)
	if ret := lib.Init(); ret != nvml.SUCCESS {
		if ret == nvml.ERROR_LIBRARY_NOT_FOUND {
			return "NVML library not found (is the NVIDIA driver installed? set library_path if it is mounted elsewhere)"
		}
		return fmt.Sprintf("nvmlInit: %v", ret)
	}
	s.lib = lib
	count, ret := lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return fmt.Sprintf("nvmlDeviceGetCount: %v", ret)
	}
	var host hostInfo
	if v, ret := lib.SystemGetDriverVersion(); ret == nvml.SUCCESS {
		host.driver = v
	}
	if v, ret := lib.SystemGetCudaDriverVersion(); ret == nvml.SUCCESS {
		host.cuda = cudaVersion(v)
	}
	startTS := pcommon.NewTimestampFromTime(time.Now())
	for i := range count {
		dev, ret := lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			s.logger.Warn("cannot open GPU; skipping it", zap.Int("index", i), zap.Error(ret))
			continue
		}
		uuid, res, err := describe(lib, dev, i, host, s.mb.NewResourceBuilder())
		if err != nil {
			s.logger.Warn("cannot identify GPU; skipping it", zap.Error(err))
			continue
		}
		if !s.wanted(i, uuid) {
			continue
		}
		g := &gpu{dev: dev, uuid: uuid, resource: res}
		s.probe(g, startTS)
		s.gpus = append(s.gpus, g)
	}
	if len(s.gpus) == 0 {
		return fmt.Sprintf("NVML found %d GPUs, none selected", count)
	}
	s.available = true
	return ""
}

func (s *nvmlScraper) wanted(index int, uuid string) bool {
	if len(s.cfg.Devices) == 0 {
		return true
	}
	return slices.Contains(s.cfg.Devices, uuid) || slices.Contains(s.cfg.Devices, strconv.Itoa(index))
}

// probe decides once which calls this device gets at each scrape, and logs
// what is left out in one line.
func (s *nvmlScraper) probe(g *gpu, ts pcommon.Timestamp) {
	mc := s.cfg.Metrics
	g.probeStatic(s.lib)
	var links []int
	if mc.NvidiaGpuNvlinkIo.Enabled || mc.NvidiaGpuNvlinkErrors.Enabled {
		links = activeNVLinks(g.dev)
	}
	g.fields = wantedFields(mc, links)
	if len(g.fields.values) > 0 {
		if ret := g.dev.GetFieldValues(g.fields.values); ret == nvml.SUCCESS {
			g.unsupported = append(g.unsupported, g.fields.keep(func(i int) bool {
				r := nvml.Return(g.fields.values[i].NvmlReturn)
				return r != nvml.ERROR_NOT_SUPPORTED && r != nvml.ERROR_INVALID_ARGUMENT
			})...)
		} else if ret == nvml.ERROR_NOT_SUPPORTED || ret == nvml.ERROR_FUNCTION_NOT_FOUND {
			g.fields = fieldSet{}
			g.unsupported = append(g.unsupported, "field_values")
		}
	}

	accepted := map[string]bool{}
	for i := range collectors {
		c := &collectors[i]
		if !c.enabled(mc) || (c.fallbackFor != "" && accepted[c.fallbackFor]) {
			continue
		}
		if c.symbol != "" && s.lib.Extensions().LookupSymbol(c.symbol) != nil {
			g.unsupported = append(g.unsupported, c.name+" (driver lacks "+c.symbol+")")
			continue
		}
		// The probe's data points are thrown away below; what matters is
		// whether the device answers.
		if err := c.record(s, g, ts); errors.Is(err, nvml.ERROR_NOT_SUPPORTED) || errors.Is(err, nvml.ERROR_FUNCTION_NOT_FOUND) {
			g.unsupported = append(g.unsupported, c.name)
			continue
		}
		accepted[c.name] = true
		g.collectors = append(g.collectors, c)
	}
	s.mb.Emit()
	s.probeGPM(g)
	s.probeMIG(g, ts.AsTime())
	if len(g.unsupported) > 0 {
		s.logger.Info("GPU does not support some metrics; they are not collected",
			zap.String("hw.id", g.uuid), zap.String("unsupported", strings.Join(g.unsupported, ", ")))
	}
}

func (s *nvmlScraper) scrape(context.Context) (pmetric.Metrics, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := pcommon.NewTimestampFromTime(time.Now())
	if !s.available {
		s.mb.RecordAcceltelReceiverAvailableDataPoint(ts, 0, metadata.Type.String())
		return s.mb.Emit(), nil
	}
	var errs scrapererror.ScrapeErrors
	procs := s.processMetricsOn()
	clear(s.seen)
	for _, g := range s.gpus {
		for _, c := range g.collectors {
			if err := c.record(s, g, ts); err != nil {
				errs.AddPartial(1, fmt.Errorf("%s %s: %w", g.uuid, c.name, err))
			}
		}
		if g.gpm != nil {
			if err := s.updateGPM(&g.gpm, ts, g.uuid, -1); err != nil {
				errs.AddPartial(1, fmt.Errorf("%s gpm: %w", g.uuid, err))
			}
			if g.gpm != nil {
				g.gpm.emit(s.mb, ts)
			}
		}
		if s.xid != nil {
			s.xid.record(s.mb, ts, g.uuid)
		}
		res := g.resource
		if s.pods != nil {
			ref, ok := s.pods.lookup(g.uuid)
			res = g.pod.resourceFor(g.resource, ref, ok, s.cfg.ResourceAttributes)
		}
		s.mb.EmitForResource(metadata.WithResource(res))
		for _, err := range s.scrapeMIG(g, ts) {
			errs.AddPartial(1, err)
		}
		if procs {
			if err := s.scrapeProcesses(g, res, ts, s.seen); err != nil {
				errs.AddPartial(1, fmt.Errorf("%s processes: %w", g.uuid, err))
			}
		}
	}
	if procs {
		s.pruneOwners(s.seen)
	}
	s.mb.RecordAcceltelReceiverAvailableDataPoint(ts, 1, metadata.Type.String())
	md := s.mb.Emit()
	s.fixEnergyStart(md)
	return md, errs.Combine()
}

// fixEnergyStart gives hw.energy the start time of its own counter, which
// moves on a reset while the other sums keep the receiver's.
func (s *nvmlScraper) fixEnergyStart(md pmetric.Metrics) {
	if !s.cfg.Metrics.HwEnergy.Enabled {
		return
	}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		id, ok := rms.At(i).Resource().Attributes().Get("hw.id")
		if !ok {
			continue
		}
		g := s.gpuByUUID(id.Str())
		if g == nil || !g.hasEnergy {
			continue
		}
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				if m := ms.At(k); m.Name() == "hw.energy" {
					dps := m.Sum().DataPoints()
					for d := 0; d < dps.Len(); d++ {
						dps.At(d).SetStartTimestamp(g.energyStart)
					}
				}
			}
		}
	}
}

func (s *nvmlScraper) gpuByUUID(uuid string) *gpu {
	for _, g := range s.gpus {
		if g.uuid == uuid {
			return g
		}
	}
	return nil
}

func (s *nvmlScraper) shutdown(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.xid != nil {
		s.xid.stop()
		s.xid = nil
	}
	if s.pods != nil {
		s.pods.stop()
		s.pods = nil
	}
	for _, g := range s.gpus {
		if g.gpm != nil {
			g.gpm.free()
			g.gpm = nil
		}
		if g.mig != nil {
			g.mig.free()
			g.mig = nil
		}
	}
	if s.lib != nil {
		ret := s.lib.Shutdown()
		s.lib = nil
		s.available = false
		if ret != nvml.SUCCESS {
			return fmt.Errorf("nvmlShutdown: %w", ret)
		}
	}
	return nil
}
