package ebpfreceiver // import "github.com/acceltel/acceltel/receivers/ebpfreceiver"

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
	metricRunQueue     = "acceltel.ebpf.runqueue.latency"
	metricOffCPU       = "acceltel.ebpf.offcpu.duration"
	metricBlockIO      = "acceltel.ebpf.blockio.latency"
	metricOnCPU        = "acceltel.ebpf.oncpu.time"
	metricBlockIOBytes = "acceltel.ebpf.blockio.io"
	metricReclaim      = "acceltel.ebpf.reclaim.duration"
	metricMigrations   = "acceltel.ebpf.cpu.migrations"
	attrOffReason      = "acceltel.offcpu.reason"
	attrBlockIOOp      = "acceltel.blockio.operation"
	attrMigrationNUMA  = "acceltel.migration.numa"
	// One description per metric name, whether on a disk's series or on a
	// cgroup's: an exporter that meets two keeps one and logs the conflict
	// at every scrape. descBlockIOBytes is metadata.yaml's.
	descBlockIO      = "Block request latency, issue to completion: per disk and operation, and per operation for the cgroup whose task issued the request."
	descBlockIOBytes = "Bytes completed by block requests: per disk and operation, and per operation for the cgroup whose task issued the request."
	// otherCgroup is the acceltel.cgroup.path of the cgroups over the budget;
	// real paths start with "/".
	otherCgroup = "other"
)

var offReasons = [...]string{offPreempted: "preempted", offSleep: "sleep", offIOWait: "io_wait"}

// migrationScopes names the two migration counters: within a NUMA node and
// across nodes.
var migrationScopes = [...]string{"local", "remote"}

// cgroupCounters are a cgroup's cumulative counters in the kernel.
type cgroupCounters struct {
	onCPUNs    uint64
	migrations [2]uint64 // within a NUMA node, across nodes
}

// addDelta adds cur - prev to c, counter by counter; a counter that went
// down (the entry was deleted and made again) counts from zero.
func (c *cgroupCounters) addDelta(cur, prev *cgroupCounters) {
	d := func(a, b uint64) uint64 {
		if b <= a {
			return a - b
		}
		return a
	}
	c.onCPUNs += d(cur.onCPUNs, prev.onCPUNs)
	for i := range c.migrations {
		c.migrations[i] += d(cur.migrations[i], prev.migrations[i])
	}
}

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

	probe    *probe
	started  pcommon.Timestamp // maps start empty at load: every count is since then
	cgroups  *cgroupResolver
	infos    map[uint64]cgroupInfo
	devices  map[uint32]string // MKDEV -> disk name
	bio      []bioSeries
	missing  map[uint64]bool // ids not found in cgroupfs at the last scrape
	staleIDs map[uint64]bool // ids gone two scrapes in a row: freed after this one
	counters map[uint64]cgroupCounters

	// Cardinality budget: the last values read, to rank cgroups by samples
	// per interval, and the cumulative sums of the cgroups over it.
	entries       []histEntry
	prev          map[schedHistKey]schedHist
	other         map[uint32]*schedHist
	prevCounters  map[uint64]cgroupCounters
	otherCounters cgroupCounters
}

func newScraper(cfg *Config, set receiver.Settings, load func(*Config) (*probe, error)) *ebpfScraper {
	return &ebpfScraper{
		cfg: cfg, set: set, logger: set.Logger, load: load,
		mb:      metadata.NewMetricsBuilder(cfg.MetricsBuilderConfig, set),
		infos:   map[uint64]cgroupInfo{},
		devices: map[uint32]string{},
		prev:    map[schedHistKey]schedHist{},
		other:   map[uint32]*schedHist{},

		staleIDs:     map[uint64]bool{},
		counters:     map[uint64]cgroupCounters{},
		prevCounters: map[uint64]cgroupCounters{},
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
	if err := p.unattached(); err != nil {
		// An optional tracepoint this kernel lacks: its signal is absent, once said.
		s.logger.Warn("some optional eBPF programs are not attached; their metrics are absent", zap.Error(err))
		attrs.PutStr("acceltel.ebpf.unattached", err.Error())
	}
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
			descBlockIO)
		for i := range s.bio {
			dp := m.ExponentialHistogram().DataPoints().AppendEmpty()
			fillExpHistogram(dp, &s.bio[i].h, s.started, now)
			dp.Attributes().PutStr("system.device", s.bio[i].device)
			dp.Attributes().PutStr(attrBlockIOOp, s.bio[i].op.String())
		}
	}

	err := errors.Join(errBio, s.appendHistograms(md, now))
	// A cgroup that is gone will not count again: emit its last value (above)
	// and free its slots in the kernel maps.
	for i := range s.entries {
		if k := &s.entries[i].k; s.staleIDs[k.CgroupId] {
			delete(s.prev, *k)
		}
	}
	for id := range s.staleIDs {
		s.probe.deleteCgroup(id)
		delete(s.prevCounters, id)
		delete(s.infos, id)
	}
	clear(s.staleIDs)
	return md, err
}

// histEntry is one (cgroup, kind) histogram read from the kernel.
type histEntry struct {
	k schedHistKey
	h schedHist
}

// cgroupSeries is the resource of one cgroup in the scrape being built.
type cgroupSeries struct {
	sm             pmetric.ScopeMetrics
	runq, off, bio pmetric.Metric
	bioBytes       pmetric.NumberDataPointSlice
}

// appendHistograms reads the kernel's per-cgroup maps and adds them to md.
func (s *ebpfScraper) appendHistograms(md pmetric.Metrics, now pcommon.Timestamp) error {
	s.entries = s.entries[:0]
	clear(s.counters)
	err := s.probe.readCgroups(func(k *schedHistKey, h *schedHist) {
		s.entries = append(s.entries, histEntry{k: *k, h: *h})
	}, func(id uint64, c *cgroupCounters) { s.counters[id] = *c })
	s.emitHistograms(md, now, s.entries, s.counters)
	return err
}

// resolve returns what a cgroup id names, walking the hierarchy at most once
// per scrape (refreshed), and notes an id that is gone.
func (s *ebpfScraper) resolve(id uint64, refreshed *bool, missing map[uint64]bool) cgroupInfo {
	info, ok := s.infos[id]
	if ok {
		return info
	}
	if !*refreshed {
		s.cgroups.refresh()
		*refreshed = true
	}
	if path, found := s.cgroups.paths[id]; found {
		info.path = path
		o := attribution.ParseCgroupPath(path)
		info.containerID, info.podUID = o.ContainerID, o.PodUID
		s.infos[id] = info
	} else if s.cgroups.root != "" {
		// Gone, or created after the walk: delete only when it was missing
		// at the previous scrape too.
		missing[id] = true
		if s.missing[id] {
			s.staleIDs[id] = true
		}
	}
	return info
}

// emitHistograms adds one resource per cgroup within the budget (the
// max_cgroups most active since the previous scrape: samples and
// migrations, plus milliseconds on CPU) with its cumulative histograms and
// counters, and one "other" resource to which every other cgroup's increase
// since the previous scrape is added.
func (s *ebpfScraper) emitHistograms(md pmetric.Metrics, now pcommon.Timestamp, entries []histEntry, counters map[uint64]cgroupCounters) {
	activity := map[uint64]uint64{}
	for i := range entries {
		e := &entries[i]
		n := histCount(&e.h)
		if p, ok := s.prev[e.k]; ok {
			if pn := histCount(&p); pn <= n {
				n -= pn
			}
		}
		activity[e.k.CgroupId] += n
	}
	for id, c := range counters {
		var d cgroupCounters
		p := s.prevCounters[id]
		d.addDelta(&c, &p)
		activity[id] += d.onCPUNs/1e6 + d.migrations[0] + d.migrations[1]
	}
	ids := make([]uint64, 0, len(activity))
	for id := range activity {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b uint64) int {
		if c := cmp.Compare(activity[b], activity[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	ids = ids[:min(len(ids), s.cfg.MaxCgroups)]

	// The budgeted cgroups, in order of activity.
	byCgroup := make(map[uint64]*cgroupSeries, len(ids))
	missing := map[uint64]bool{}
	refreshed := false
	for _, id := range ids {
		rm := md.ResourceMetrics().AppendEmpty()
		s.resource(rm.Resource(), id, s.resolve(id, &refreshed, missing))
		byCgroup[id] = s.newSeries(rm)
	}
	seen := make(map[schedHistKey]bool, len(entries))
	for i := range entries {
		k, h := &entries[i].k, &entries[i].h
		seen[*k] = true
		if ser := byCgroup[k.CgroupId]; ser != nil {
			s.appendHist(ser, k.Kind, h, now)
		} else {
			s.resolve(k.CgroupId, &refreshed, missing)
			o := s.other[k.Kind]
			if o == nil {
				o = &schedHist{}
				s.other[k.Kind] = o
			}
			var prev *schedHist
			if p, ok := s.prev[*k]; ok {
				prev = &p
			}
			o.addDelta(h, prev)
		}
		s.prev[*k] = *h
	}
	for k := range s.prev {
		if !seen[k] {
			delete(s.prev, k)
		}
	}
	for id, c := range counters {
		if ser := byCgroup[id]; ser != nil {
			s.appendCounters(ser, &c, now)
		} else {
			s.resolve(id, &refreshed, missing)
			p := s.prevCounters[id]
			s.otherCounters.addDelta(&c, &p)
		}
		s.prevCounters[id] = c
	}
	for id := range s.prevCounters {
		if _, ok := counters[id]; !ok {
			delete(s.prevCounters, id)
		}
	}
	s.missing = missing

	if len(s.other) > 0 || s.otherCounters != (cgroupCounters{}) {
		rm := md.ResourceMetrics().AppendEmpty()
		rb := metadata.NewResourceBuilder(s.cfg.ResourceAttributes)
		rb.SetAcceltelCgroupPath(otherCgroup)
		rb.Emit().MoveTo(rm.Resource())
		ser := s.newSeries(rm)
		kinds := make([]uint32, 0, len(s.other))
		for kind := range s.other {
			kinds = append(kinds, kind)
		}
		slices.Sort(kinds)
		for _, kind := range kinds {
			s.appendHist(ser, kind, s.other[kind], now)
		}
		s.appendCounters(ser, &s.otherCounters, now)
	}
}

func (s *ebpfScraper) newSeries(rm pmetric.ResourceMetrics) *cgroupSeries {
	ser := &cgroupSeries{sm: rm.ScopeMetrics().AppendEmpty()}
	ser.sm.Scope().SetName(metadata.ScopeName)
	ser.sm.Scope().SetVersion(s.set.BuildInfo.Version)
	return ser
}

// appendHist adds one histogram of the given kind to a cgroup's resource.
func (s *ebpfScraper) appendHist(ser *cgroupSeries, kind uint32, h *schedHist, now pcommon.Timestamp) {
	switch {
	case kind == kindRunQueue:
		if ser.runq == (pmetric.Metric{}) {
			ser.runq = newExpHistogram(ser.sm, metricRunQueue, "Time a task of the cgroup waited runnable in the CPU run queue.")
		}
		fillExpHistogram(ser.runq.ExponentialHistogram().DataPoints().AppendEmpty(), h, s.started, now)
	case kind >= kindOffCPUBase && int(kind-kindOffCPUBase) < len(offReasons):
		if ser.off == (pmetric.Metric{}) {
			ser.off = newExpHistogram(ser.sm, metricOffCPU, "Time a task of the cgroup spent off the CPU, per reason.")
		}
		dp := ser.off.ExponentialHistogram().DataPoints().AppendEmpty()
		fillExpHistogram(dp, h, s.started, now)
		dp.Attributes().PutStr(attrOffReason, offReasons[kind-kindOffCPUBase])
	case kind == kindReclaim:
		m := newExpHistogram(ser.sm, metricReclaim, "Time a task of the cgroup stalled in direct or memcg memory reclaim.")
		fillExpHistogram(m.ExponentialHistogram().DataPoints().AppendEmpty(), h, s.started, now)
	case kind >= kindBioBase && kind <= kindBioBase+bioOpOther:
		op := metadata.AttributeOperationOther
		if int(kind-kindBioBase) < len(bioOps) {
			op = bioOps[kind-kindBioBase]
		}
		if ser.bio == (pmetric.Metric{}) {
			ser.bio = newExpHistogram(ser.sm, metricBlockIO, descBlockIO)
			ser.bioBytes = appendCumulativeSum(ser, metricBlockIOBytes, "By", descBlockIOBytes)
		}
		dp := ser.bio.ExponentialHistogram().DataPoints().AppendEmpty()
		fillExpHistogram(dp, h, s.started, now)
		dp.Attributes().PutStr(attrBlockIOOp, op.String())
		bp := ser.bioBytes.AppendEmpty()
		bp.SetStartTimestamp(s.started)
		bp.SetTimestamp(now)
		bp.SetIntValue(int64(h.Bytes))
		bp.Attributes().PutStr(attrBlockIOOp, op.String())
	}
}

// appendCounters adds a cgroup's on-CPU time and migrations, those that
// counted anything.
func (s *ebpfScraper) appendCounters(ser *cgroupSeries, c *cgroupCounters, now pcommon.Timestamp) {
	if c.onCPUNs > 0 {
		dp := appendCumulativeSum(ser, metricOnCPU, "s",
			"Time the cgroup's tasks ran on a CPU, switch-in to switch-out (sched_switch).").AppendEmpty()
		dp.SetStartTimestamp(s.started)
		dp.SetTimestamp(now)
		dp.SetDoubleValue(float64(c.onCPUNs) / nsPerSecond)
	}
	if c.migrations == [2]uint64{} {
		return
	}
	dps := appendCumulativeSum(ser, metricMigrations, "{migration}",
		"Times a task of the cgroup was moved to another CPU (sched_migrate_task), within its NUMA node or to another node.")
	for i, n := range c.migrations {
		dp := dps.AppendEmpty()
		dp.SetStartTimestamp(s.started)
		dp.SetTimestamp(now)
		dp.SetIntValue(int64(n))
		dp.Attributes().PutStr(attrMigrationNUMA, migrationScopes[i])
	}
}

// appendCumulativeSum adds a monotonic cumulative sum to a cgroup's resource.
func appendCumulativeSum(ser *cgroupSeries, name, unit, desc string) pmetric.NumberDataPointSlice {
	m := ser.sm.Metrics().AppendEmpty()
	m.SetName(name)
	m.SetDescription(desc)
	m.SetUnit(unit)
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	return sum.DataPoints()
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
