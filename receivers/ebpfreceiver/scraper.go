package ebpfreceiver // import "github.com/acceltel/acceltel/receivers/ebpfreceiver"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"

	"github.com/acceltel/acceltel/internal/attribution"
	"github.com/acceltel/acceltel/receivers/ebpfreceiver/internal/metadata"
)

const (
	metricRunQueue = "acceltel.ebpf.runqueue.latency"
	metricOffCPU   = "acceltel.ebpf.offcpu.duration"
	metricBlockIO  = "acceltel.ebpf.blockio.latency"
	attrOffReason  = "acceltel.offcpu.reason"
)

var offReasons = [...]string{offPreempted: "preempted", offSleep: "sleep", offIOWait: "io_wait"}

// bioOps names REQ_OP_* 0..3; the rest are "other".
var bioOps = [...]metadata.AttributeOperation{
	metadata.AttributeOperationRead, metadata.AttributeOperationWrite,
	metadata.AttributeOperationFlush, metadata.AttributeOperationDiscard,
}

// bioSeries is one block IO histogram read from the kernel for this scrape.
type bioSeries struct {
	device string
	op     metadata.AttributeOperation
	h      schedHist
}

// cgroupInfo is what a cgroup id resolved to; cached until the cgroup is gone.
type cgroupInfo struct {
	path, containerID, podUID string
}

type ebpfScraper struct {
	cfg    *Config
	set    receiver.Settings
	logger *zap.Logger
	mb     *metadata.MetricsBuilder
	load   func(*Config) (*probe, error)

	probe   *probe
	started pcommon.Timestamp // maps start empty at load: every count is since then
	cgroups *cgroupResolver
	infos   map[uint64]cgroupInfo
	devices map[uint32]string // MKDEV -> disk name
	bio     []bioSeries
	missing map[uint64]bool // ids not found in cgroupfs at the last scrape
	stale   []schedHistKey
}

func newScraper(cfg *Config, set receiver.Settings, load func(*Config) (*probe, error)) *ebpfScraper {
	return &ebpfScraper{
		cfg: cfg, set: set, logger: set.Logger, load: load,
		mb:      metadata.NewMetricsBuilder(cfg.MetricsBuilderConfig, set),
		infos:   map[uint64]cgroupInfo{},
		devices: map[uint32]string{},
	}
}

func (s *ebpfScraper) start(_ context.Context, host component.Host) error {
	attrs := pcommon.NewMap()
	p, err := s.load(s.cfg)
	if err != nil {
		// Missing privilege or BTF is a normal deployment state, not a failure:
		// say it once and stay idle so that the rest of the collector runs.
		s.logger.Warn("eBPF programs not loaded; the receiver stays idle and reports acceltel.receiver.available=0", zap.Error(err))
		attrs.PutBool("acceltel.available", false)
		attrs.PutStr("acceltel.reason", err.Error())
		componentstatus.ReportStatus(host, componentstatus.NewEvent(componentstatus.StatusOK, componentstatus.WithAttributes(attrs)))
		return nil
	}
	s.probe = p
	s.started = pcommon.NewTimestampFromTime(time.Now())

	root := s.cfg.CgroupPath
	if root == "" {
		// The mount table of pid 1 names host paths; prefix them with root_path.
		if m := findCgroup2(filepath.Join(s.cfg.RootPath, "proc", "1", "mounts")); m != "" {
			root = filepath.Join(s.cfg.RootPath, m)
		}
	}
	if root == "" {
		s.logger.Info("no cgroup2 mount found; cgroups are reported by id only")
	}
	s.cgroups = newCgroupResolver(root)

	attrs.PutBool("acceltel.available", true)
	var methods []string
	for _, am := range p.attachMethods() {
		methods = append(methods, am[0]+"="+am[1])
		attrs.PutStr("acceltel.ebpf.attach_method."+am[0], am[1])
	}
	s.logger.Info("eBPF programs attached", zap.Strings("attach_methods", methods),
		zap.String("cgroup2", root), zap.Bool("run_time_stats", p.hasStats()), zap.String("ruled_out", p.ruledOut()))
	componentstatus.ReportStatus(host, componentstatus.NewEvent(componentstatus.StatusOK, componentstatus.WithAttributes(attrs)))
	return nil
}

func (s *ebpfScraper) shutdown(context.Context) error {
	if s.probe == nil {
		return nil
	}
	err := s.probe.Close()
	s.probe = nil
	return err
}

func (s *ebpfScraper) scrape(context.Context) (pmetric.Metrics, error) {
	now := pcommon.NewTimestampFromTime(time.Now())
	if s.probe == nil {
		s.mb.RecordAcceltelReceiverAvailableDataPoint(now, 0, metadata.Type.String())
		return s.mb.Emit(), nil
	}
	s.mb.RecordAcceltelReceiverAvailableDataPoint(now, 1, metadata.Type.String())
	for _, st := range s.probe.programStats() {
		m := metadata.MapAttributeAttachMethod[st.method]
		s.mb.RecordAcceltelEbpfProgramRunCountDataPoint(now, int64(st.runs), st.name, m)
		s.mb.RecordAcceltelEbpfProgramRunTimeDataPoint(now, float64(st.runTimeNs)/nsPerSecond, st.name, m)
	}
	s.mb.RecordAcceltelEbpfHistDroppedDataPoint(now, int64(s.probe.dropped()))
	s.bio = s.bio[:0]
	errBio := s.probe.readBio(func(k *schedBioKey, h *schedBioHist) {
		op := metadata.AttributeOperationOther
		if int(k.Op) < len(bioOps) {
			op = bioOps[k.Op]
		}
		dev := s.deviceName(k.Dev)
		s.mb.RecordAcceltelEbpfBlockioIoDataPoint(now, int64(h.Bytes), dev, op)
		s.bio = append(s.bio, bioSeries{device: dev, op: op, h: h.H})
	})
	md := s.mb.Emit(metadata.WithStartTimeOverride(s.started))
	if len(s.bio) > 0 { // host-level, next to the metrics above
		m := newExpHistogram(md.ResourceMetrics().At(0).ScopeMetrics().At(0), metricBlockIO,
			"Block request latency, issue to completion, per disk and operation.")
		for i := range s.bio {
			dp := m.ExponentialHistogram().DataPoints().AppendEmpty()
			fillExpHistogram(dp, &s.bio[i].h, s.started, now)
			dp.Attributes().PutStr("system.device", s.bio[i].device)
			dp.Attributes().PutStr("acceltel.blockio.operation", s.bio[i].op.String())
		}
	}

	err := errors.Join(errBio, s.appendHistograms(md, now))
	// A cgroup that is gone will not count again: emit its last value (above)
	// and free its slot in the kernel map.
	for i := range s.stale {
		s.probe.deleteHist(&s.stale[i])
		delete(s.infos, s.stale[i].CgroupId)
	}
	s.stale = s.stale[:0]
	return md, err
}

// appendHistograms adds one resource per cgroup with its histograms.
func (s *ebpfScraper) appendHistograms(md pmetric.Metrics, now pcommon.Timestamp) error {
	type series struct {
		sm        pmetric.ScopeMetrics
		runq, off pmetric.Metric
	}
	byCgroup := map[uint64]*series{}
	missing := map[uint64]bool{}
	refreshed := false
	err := s.probe.readHists(func(k *schedHistKey, h *schedHist) {
		id := k.CgroupId
		info, ok := s.infos[id]
		if !ok {
			if !refreshed { // at most one walk of the hierarchy per scrape
				s.cgroups.refresh()
				refreshed = true
			}
			if path, found := s.cgroups.paths[id]; found {
				info.path = path
				o := attribution.ParseCgroupPath(path)
				info.containerID, info.podUID = o.ContainerID, o.PodUID
				s.infos[id] = info
			} else if s.cgroups.root != "" {
				// Gone, or created after the walk: delete only when it was
				// missing at the previous scrape too.
				missing[id] = true
				if s.missing[id] {
					s.stale = append(s.stale, *k)
				}
			}
		}
		ser := byCgroup[id]
		if ser == nil {
			rm := md.ResourceMetrics().AppendEmpty()
			s.resource(rm.Resource(), id, info)
			ser = &series{sm: rm.ScopeMetrics().AppendEmpty()}
			ser.sm.Scope().SetName(metadata.ScopeName)
			ser.sm.Scope().SetVersion(s.set.BuildInfo.Version)
			byCgroup[id] = ser
		}
		switch {
		case k.Kind == kindRunQueue:
			if ser.runq == (pmetric.Metric{}) {
				ser.runq = newExpHistogram(ser.sm, metricRunQueue, "Time a task of the cgroup waited runnable in the CPU run queue.")
			}
			fillExpHistogram(ser.runq.ExponentialHistogram().DataPoints().AppendEmpty(), h, s.started, now)
		case k.Kind >= kindOffCPUBase && int(k.Kind-kindOffCPUBase) < len(offReasons):
			if ser.off == (pmetric.Metric{}) {
				ser.off = newExpHistogram(ser.sm, metricOffCPU, "Time a task of the cgroup spent off the CPU, per reason.")
			}
			dp := ser.off.ExponentialHistogram().DataPoints().AppendEmpty()
			fillExpHistogram(dp, h, s.started, now)
			dp.Attributes().PutStr(attrOffReason, offReasons[k.Kind-kindOffCPUBase])
		}
	})
	s.missing = missing
	return err
}

// deviceName names a disk by its MKDEV(major, minor) through /sys/dev/block.
func (s *ebpfScraper) deviceName(dev uint32) string {
	if name, ok := s.devices[dev]; ok {
		return name
	}
	name := fmt.Sprintf("%d:%d", dev>>20, dev&0xfffff)
	if target, err := os.Readlink(filepath.Join(s.cfg.RootPath, "sys", "dev", "block", name)); err == nil {
		name = filepath.Base(target)
	}
	s.devices[dev] = name
	return name
}

func (s *ebpfScraper) resource(res pcommon.Resource, id uint64, info cgroupInfo) {
	rb := metadata.NewResourceBuilder(s.cfg.ResourceAttributes)
	rb.SetAcceltelCgroupID(int64(id))
	if info.path != "" {
		rb.SetAcceltelCgroupPath(info.path)
	}
	if info.containerID != "" {
		rb.SetContainerID(info.containerID)
	}
	if info.podUID != "" {
		rb.SetK8sPodUID(info.podUID)
	}
	rb.Emit().MoveTo(res)
}

func newExpHistogram(sm pmetric.ScopeMetrics, name, desc string) pmetric.Metric {
	m := sm.Metrics().AppendEmpty()
	m.SetName(name)
	m.SetDescription(desc)
	m.SetUnit("s")
	m.SetEmptyExponentialHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	return m
}
