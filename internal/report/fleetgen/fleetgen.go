// Package fleetgen generates the metrics of a simulated GPU fleet, as the
// distribution's receivers and processors emit them (names, units, types,
// resource and point attributes from their metadata.yaml), with planted
// problems: an anomaly, thermal throttling, an XID and an ECC error, a
// straggling NCCL rank, a congested InfiniBand port, a slow container, idle
// cost and a parallelism recommendation. The report and status page tests
// and the report benchmark feed it to the real s3 exporter or to the live
// extension.
package fleetgen

import (
	"context"
	"fmt"
	"math"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/acceltel/acceltel/exporters/s3exporter"
)

// Fleet describes what to generate.
type Fleet struct {
	Nodes, GPUsPerNode int
	Start              time.Time
	Interval           time.Duration
	Steps              int
	// FullNVML adds every other metric the nvml receiver reports by
	// default (about 60 series per GPU in all), for realistic volume.
	FullNVML bool
}

// The planted problems, for tests to look for.
const (
	AnomalyHost     = "gpu-node-01"
	AnomalyGPU      = 3
	ThrottleHost    = "gpu-node-02"
	ThrottleGPU     = 5
	XIDHost         = "gpu-node-00"
	XIDGPU          = 1
	XIDCode         = 79
	StragglerRank   = 5
	CongestedHost   = "gpu-node-03"
	IdleNamespace   = "inference"
	PlanJob         = "llama-pretrain"
	SlowContainerID = "c0ffee0000000000000000000000000000000000000000000000000000000bad"
)

// Host names node i.
func Host(i int) string { return fmt.Sprintf("gpu-node-%02d", i) }

// GPUID is the hw.id of GPU g of node n.
func GPUID(n, g int) string {
	return fmt.Sprintf("GPU-%08x-7d3c-4b2a-9f1e-%012x", n*1000+g, n*7919+g*104729+17)
}

// window returns whether step i is inside the planted window [a, b) given
// as fractions of the run.
func (f Fleet) window(i int, a, b float64) bool {
	return i >= int(a*float64(f.Steps)) && i < int(b*float64(f.Steps))
}

// Step returns the metrics of scrape i of the whole fleet.
func (f Fleet) Step(i int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	ts := pcommon.NewTimestampFromTime(f.Start.Add(time.Duration(i) * f.Interval))
	start := pcommon.NewTimestampFromTime(f.Start.Add(-time.Minute))
	elapsed := float64(i) * f.Interval.Seconds()
	for n := 0; n < f.Nodes; n++ {
		host := Host(n)
		for g := 0; g < f.GPUsPerNode; g++ {
			f.gpu(md, i, n, g, host, ts, start, elapsed)
		}
		f.node(md, i, n, host, ts, start, elapsed)
	}
	f.fleetWide(md, i, ts, start, elapsed)
	return md
}

type scope struct {
	ms        pmetric.MetricSlice
	ts, start pcommon.Timestamp
}

func newScope(md pmetric.Metrics, attrs map[string]any, ts, start pcommon.Timestamp) scope {
	rm := md.ResourceMetrics().AppendEmpty()
	_ = rm.Resource().Attributes().FromRaw(attrs)
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("github.com/acceltel/acceltel/internal/report/fleetgen")
	return scope{ms: sm.Metrics(), ts: ts, start: start}
}

func (s scope) gauge(name, unit string, v float64, attrs ...string) {
	m := s.ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(s.ts)
	dp.SetDoubleValue(v)
	for j := 0; j+1 < len(attrs); j += 2 {
		dp.Attributes().PutStr(attrs[j], attrs[j+1])
	}
}

func (s scope) sum(name, unit string, monotonic bool, v float64, attrs ...string) {
	m := s.ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	sm := m.SetEmptySum()
	sm.SetIsMonotonic(monotonic)
	sm.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := sm.DataPoints().AppendEmpty()
	dp.SetTimestamp(s.ts)
	dp.SetStartTimestamp(s.start)
	dp.SetDoubleValue(v)
	for j := 0; j+1 < len(attrs); j += 2 {
		dp.Attributes().PutStr(attrs[j], attrs[j+1])
	}
}

// wave is a smooth, GPU-specific training-like load pattern.
func wave(elapsed float64, n, g int) float64 {
	return 0.5 + 0.5*math.Sin(elapsed/900+float64(n)*0.7+float64(g)*0.3)
}

func (f Fleet) gpu(md pmetric.Metrics, i, n, g int, host string, ts, start pcommon.Timestamp, elapsed float64) {
	s := newScope(md, map[string]any{
		"host.name": host, "hw.id": GPUID(n, g), "hw.name": fmt.Sprintf("nvidia%d", g), "hw.vendor": "NVIDIA",
		"hw.model": "NVIDIA H100 80GB HBM3", "nvidia.gpu.index": int64(g), "pci.bus_id": fmt.Sprintf("0000:%02x:00.0", 0x18+g*0x10),
		"nvidia.driver.version": "550.54.15", "k8s.namespace.name": "research", "k8s.pod.name": fmt.Sprintf("llama-worker-%d", n),
	}, ts, start)
	util := 0.85 + 0.1*wave(elapsed, n, g)
	temp := 62 + 8*wave(elapsed, n, g)
	power := 450 + 200*util
	if n == 1 && g == AnomalyGPU && f.window(i, 0.40, 0.45) {
		util = 0.05 // the planted anomaly: a GPU that stops working
		power = 90
	}
	throttling := n == 2 && g == ThrottleGPU && f.window(i, 0.60, 0.70)
	if throttling {
		temp, util = 91, 0.6
	}
	s.gauge("hw.gpu.utilization", "1", util, "hw.gpu.task", "general")
	s.gauge("hw.power", "W", power)
	s.gauge("hw.temperature", "Cel", temp, "hw.sensor_location", "gpu")
	s.sum("hw.gpu.memory.usage", "By", false, 80e9*(0.6+0.3*util))
	s.sum("hw.gpu.memory.limit", "By", false, 80e9)
	// Throttle time grows by the interval while throttled.
	thermal := 0.0
	if n == 2 && g == ThrottleGPU {
		lo, hi := int(0.60*float64(f.Steps)), int(0.70*float64(f.Steps))
		thermal = float64(min(max(i-lo, 0), hi-lo)) * f.Interval.Seconds()
	}
	s.sum("nvidia.gpu.throttle.time", "s", true, thermal, "nvidia.gpu.throttle.cause", "thermal")
	s.sum("nvidia.gpu.throttle.time", "s", true, 0, "nvidia.gpu.throttle.cause", "power")
	if n == 0 && g == XIDGPU {
		xid := 0.0
		if f.window(i, 0.8, 1.01) {
			xid = 1
		}
		s.sum("nvidia.gpu.xid.errors", "{error}", true, xid, "nvidia.gpu.xid", fmt.Sprint(XIDCode))
		ecc := 0.0
		if f.window(i, 0.85, 1.01) {
			ecc = 2
		}
		s.sum("hw.errors", "{error}", true, ecc, "error.type", "uncorrected", "nvidia.gpu.ecc.counter", "volatile")
	}
	if f.FullNVML {
		f.restOfNVML(s, util, power, elapsed)
	}
	// The anomaly processor's output about this GPU's utilization.
	flag, score := 0.0, 0.05+0.05*wave(elapsed, n, g)
	if n == 1 && g == AnomalyGPU && f.window(i, 0.40, 0.45) {
		flag, score = 1, 0.97
	}
	if n <= 1 { // the processor watches some series; keep the volume realistic
		s.gauge("acceltel.anomaly.flag", "{state}", flag, "acceltel.anomaly.metric", "hw.gpu.utilization", "acceltel.anomaly.detector", "ensemble", "hw.gpu.task", "general")
		s.gauge("acceltel.anomaly.score", "1", score, "acceltel.anomaly.metric", "hw.gpu.utilization", "acceltel.anomaly.detector", "ensemble", "hw.gpu.task", "general")
	}
	// Cost per GPU, split as the cost processor does.
	hours := elapsed / 3600
	ns, job := "research", PlanJob
	idleShare := 0.05
	if n == f.Nodes-1 {
		ns, job, idleShare = IdleNamespace, "chat-serving", 0.6
	}
	s.sum("acceltel.cost.allocated", "{USD}", true, 2.5*hours*(1-idleShare), "k8s.namespace.name", ns, "k8s.job.name", job, "acceltel.cost.rate_kind", "on_demand")
	s.sum("acceltel.cost.idle", "{USD}", true, 2.5*hours*idleShare, "k8s.namespace.name", ns, "k8s.job.name", job, "acceltel.cost.idle.reason", "allocated_underused")
	s.sum("acceltel.cost.energy", "{USD}", true, 0.06*hours*power/1000, "k8s.namespace.name", ns, "k8s.job.name", job)
	// NCCL, one rank per GPU in one communicator.
	f.nccl(md, i, n, g, host, ts, start)
}

// restOfNVML adds the nvml receiver's other default metrics.
func (f Fleet) restOfNVML(s scope, util, power, elapsed float64) {
	s.sum("hw.energy", "J", true, elapsed*power)
	for _, t := range []string{"corrected", "uncorrected"} {
		for _, c := range []string{"volatile", "aggregate"} {
			s.sum("hw.errors", "{error}", true, 0, "error.type", t, "nvidia.gpu.ecc.counter", c)
		}
	}
	s.gauge("hw.gpu.utilization", "1", 0, "hw.gpu.task", "encoder")
	s.gauge("hw.gpu.utilization", "1", 0, "hw.gpu.task", "decoder")
	s.gauge("hw.temperature", "Cel", 70+10*util, "hw.sensor_location", "memory")
	s.sum("nvidia.gpu.bar1.limit", "By", false, 128e9)
	s.sum("nvidia.gpu.bar1.usage", "By", false, 2e9+util*1e9)
	for _, c := range []string{"graphics", "sm", "memory"} {
		s.gauge("nvidia.gpu.clock.frequency", "Hz", 1.5e9+util*3e8, "nvidia.gpu.clock", c)
		s.gauge("nvidia.gpu.clock.max", "Hz", 1.98e9, "nvidia.gpu.clock", c)
	}
	for _, r := range []string{"gpu_idle", "applications_clocks_setting", "sw_power_cap", "hw_slowdown", "sync_boost", "sw_thermal_slowdown",
		"hw_thermal_slowdown", "hw_power_brake_slowdown", "display_clock_setting", "board_limit", "reliability"} {
		s.gauge("nvidia.gpu.clock_event.reason", "{state}", 0, "nvidia.gpu.clock_event.reason", r)
	}
	s.sum("nvidia.gpu.memory.free", "By", false, 80e9*(0.4-0.3*util+0.3))
	s.sum("nvidia.gpu.memory.reserved", "By", false, 5e8)
	s.gauge("nvidia.gpu.memory_controller.utilization", "1", util*0.7)
	for _, e := range []string{"crc_flit", "crc_data", "replay", "recovery"} {
		s.sum("nvidia.gpu.nvlink.errors", "{error}", true, 0, "error.type", e)
	}
	for _, d := range []string{"transmit", "receive"} {
		s.sum("nvidia.gpu.nvlink.io", "By", true, elapsed*util*2e11, "network.io.direction", d)
		s.gauge("nvidia.gpu.pcie.throughput", "By/s", util*1e10, "network.io.direction", d)
	}
	s.gauge("nvidia.gpu.pcie.link.generation", "{generation}", 5)
	s.gauge("nvidia.gpu.pcie.link.generation.max", "{generation}", 5)
	s.gauge("nvidia.gpu.pcie.link.width", "{lane}", 16)
	s.gauge("nvidia.gpu.pcie.link.width.max", "{lane}", 16)
	s.sum("nvidia.gpu.pcie.replay", "{replay}", true, 0)
	s.gauge("nvidia.gpu.power.limit", "W", 700)
	s.gauge("nvidia.gpu.remap.failed", "{state}", 0)
	s.gauge("nvidia.gpu.remap.pending", "{state}", 0)
	s.sum("nvidia.gpu.remapped_rows", "{row}", true, 0, "nvidia.gpu.remap.cause", "correctable")
	s.sum("nvidia.gpu.remapped_rows", "{row}", true, 0, "nvidia.gpu.remap.cause", "uncorrectable")
	for _, c := range []string{"sync_boost", "board_limit", "low_utilization", "reliability", "total_app_clocks", "total_base_clocks"} {
		s.sum("nvidia.gpu.throttle.time", "s", true, 0, "nvidia.gpu.throttle.cause", c)
	}
}

var bwBounds = []float64{1e9, 2e9, 5e9, 1e10, 2e10, 5e10, 1e11, 2e11, 5e11}

func (f Fleet) nccl(md pmetric.Metrics, i, n, g int, host string, ts, start pcommon.Timestamp) {
	rank := n*f.GPUsPerNode + g
	s := newScope(md, map[string]any{"host.name": host, "process.pid": int64(1000 + g), "nccl.cuda.device": int64(g)}, ts, start)
	attrs := []string{"nccl.collective", "AllReduce", "nccl.communicator.id", "9f3c2a1b", "nccl.rank", fmt.Sprint(rank), "nccl.algorithm", "Ring", "nccl.protocol", "Simple"}
	ops := float64(i+1) * 20
	s.sum("nccl.operation.count", "{operation}", true, ops, attrs...)
	s.sum("nccl.operation.bytes", "By", true, ops*64*(1<<20), attrs...)
	bw := 1.6e11
	lag := 0.0002 + 0.0001*float64(g%3)
	if rank == StragglerRank {
		bw, lag = 4e10, 0.02
	}
	s.gauge("nccl.collective.bus_bandwidth", "By/s", bw, attrs...)
	s.gauge("nccl.rank.completion.lag", "s", lag, "nccl.communicator.id", "9f3c2a1b", "nccl.rank", fmt.Sprint(rank))
	// The cumulative bandwidth histogram: every operation lands near bw.
	m := s.ms.AppendEmpty()
	m.SetName("nccl.operation.bus_bandwidth")
	m.SetUnit("By/s")
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := h.DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	dp.SetStartTimestamp(start)
	dp.ExplicitBounds().FromRaw(bwBounds)
	counts := make([]uint64, len(bwBounds)+1)
	for b, up := range bwBounds {
		if bw <= up {
			counts[b] = uint64(ops * 0.8)
			counts[b+1] = uint64(ops * 0.2)
			if b > 0 {
				counts[b-1] = uint64(ops * 0.1)
			}
			break
		}
	}
	var total uint64
	for _, c := range counts {
		total += c
	}
	dp.BucketCounts().FromRaw(counts)
	dp.SetCount(total)
	dp.SetSum(float64(total) * bw)
	for j := 0; j+1 < len(attrs); j += 2 {
		dp.Attributes().PutStr(attrs[j], attrs[j+1])
	}
	if rank == StragglerRank {
		flag := 0.0
		if f.window(i, 0.2, 1.01) {
			flag = 1
		}
		s.gauge("acceltel.anomaly.straggler", "{state}", flag, "acceltel.anomaly.metric", "nccl.rank.completion.lag", "acceltel.anomaly.detector", "peer",
			"nccl.communicator.id", "9f3c2a1b", "nccl.rank", fmt.Sprint(rank))
	}
}

func (f Fleet) node(md pmetric.Metrics, i, n int, host string, ts, start pcommon.Timestamp, elapsed float64) {
	for _, dev := range []string{"mlx5_0", "mlx5_1"} {
		s := newScope(md, map[string]any{"host.name": host, "infiniband.device": dev, "infiniband.hca_type": "MT4129"}, ts, start)
		u := 0.5 + 0.3*wave(elapsed, n, len(dev))
		wait := 0.001
		if host == CongestedHost && dev == "mlx5_1" && f.window(i, 0.3, 0.5) {
			wait, u = 0.35, 0.95
		}
		for _, d := range []string{"transmit", "receive"} {
			m := s.ms.AppendEmpty()
			m.SetName("infiniband.port.utilization")
			m.SetUnit("1")
			dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
			dp.SetTimestamp(ts)
			dp.SetDoubleValue(u)
			dp.Attributes().PutInt("infiniband.port", 1)
			dp.Attributes().PutStr("network.io.direction", d)
		}
		m := s.ms.AppendEmpty()
		m.SetName("infiniband.port.xmit_wait.ratio")
		m.SetUnit("1")
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetDoubleValue(wait)
		dp.Attributes().PutInt("infiniband.port", 1)
	}
	// eBPF run-queue latency per container (cumulative exponential
	// histograms, scale 2).
	for c := 0; c < 2; c++ {
		cid := fmt.Sprintf("%064x", n*10+c+1)
		slow := n == 0 && c == 1
		if slow {
			cid = SlowContainerID
		}
		s := newScope(md, map[string]any{"host.name": host, "container.id": cid, "acceltel.cgroup.path": "/kubepods.slice/" + cid[:12]}, ts, start)
		m := s.ms.AppendEmpty()
		m.SetName("acceltel.ebpf.runqueue.latency")
		m.SetUnit("s")
		eh := m.SetEmptyExponentialHistogram()
		eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		dp := eh.DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetStartTimestamp(start)
		dp.SetScale(2)
		// base 2^(1/4); index -80 is about 1 µs, -40 about 1 ms.
		off := int32(-60)
		if slow {
			off = -40
		}
		dp.Positive().SetOffset(off)
		k := uint64(i + 1)
		dp.Positive().BucketCounts().FromRaw([]uint64{10 * k, 40 * k, 100 * k, 40 * k, 10 * k, 2 * k})
		dp.SetCount(202 * k)
		dp.SetSum(float64(202*k) * math.Pow(2, float64(off+2)/4))
	}
}

func (f Fleet) fleetWide(md pmetric.Metrics, i int, ts, start pcommon.Timestamp, elapsed float64) {
	s := newScope(md, map[string]any{"k8s.namespace.name": "research", "k8s.job.name": PlanJob, "ml.job.id": "run-42"}, ts, start)
	s.gauge("acceltel.plan.speedup", "1", 1.31)
	s.gauge("acceltel.plan.step.duration.measured", "s", 2.1+0.02*math.Sin(elapsed/300))
	s.gauge("acceltel.plan.step.duration.predicted", "s", 2.05)
	s.gauge("acceltel.plan.prediction.error", "1", -0.024)
	s.gauge("acceltel.plan.step.cost", "{currency}", 0.36, "acceltel.plan.layout", "current")
	s.gauge("acceltel.plan.step.cost", "{currency}", 0.275, "acceltel.plan.layout", "recommended")
	s.gauge("acceltel.plan.memory.headroom", "By", 9e9, "acceltel.plan.layout", "current")
	s.gauge("acceltel.plan.memory.headroom", "By", 14e9, "acceltel.plan.layout", "recommended")
	m := s.ms.AppendEmpty()
	m.SetName("acceltel.plan.recommendation")
	m.SetUnit("1")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	dp.SetIntValue(1)
	for k, v := range map[string]int64{"ml.parallel.tensor": 4, "ml.parallel.pipeline": 2, "ml.parallel.data": 8, "ml.parallel.context": 1,
		"ml.parallel.virtual_stages": 2, "ml.zero.stage": 1, "ml.train.micro_batch_size": 2} {
		dp.Attributes().PutInt(k, v)
	}
	dp.Attributes().PutStr("ml.recompute", "selective")
	_ = i
}

// WriteParquet writes steps [0, f.Steps) through the real s3 exporter
// (local folder, Parquet, zstd, no queue so that each call is written
// when it returns), batching steps per call to make files of about the
// size the exporter's default batching makes.
func (f Fleet) WriteParquet(ctx context.Context, dir string) error {
	fac := s3exporter.NewFactory()
	cfg := fac.CreateDefaultConfig().(*s3exporter.Config)
	cfg.LocalFolder = dir
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	cfg.RetryConfig.Enabled = false
	if err := cfg.Validate(); err != nil {
		return err
	}
	exp, err := fac.CreateMetrics(ctx, exportertest.NewNopSettings(fac.Type()), cfg)
	if err != nil {
		return err
	}
	if err := exp.Start(ctx, componenttest.NewNopHost()); err != nil {
		return err
	}
	defer func() { _ = exp.Shutdown(context.Background()) }()
	// About 100k points a batch, as the exporter's default min_size.
	perStep := max(1, f.Step(0).DataPointCount())
	batch := max(1, 100_000/perStep)
	for i := 0; i < f.Steps; i += batch {
		md := pmetric.NewMetrics()
		for j := i; j < min(i+batch, f.Steps); j++ {
			f.Step(j).ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
		}
		if err := exp.ConsumeMetrics(ctx, md); err != nil {
			return err
		}
	}
	return nil
}
