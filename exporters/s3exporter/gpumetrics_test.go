package s3exporter

import (
	"fmt"
	"math"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// gpuMetric is one metric the nvml receiver emits by default (see
// receivers/nvmlreceiver/metadata.yaml), with the attribute values it takes.
type gpuMetric struct {
	name, unit string
	sum        bool // cumulative sum, else gauge
	monotonic  bool
	integer    bool
	attr       string
	values     []string
}

var nvmlDefaultMetrics = []gpuMetric{
	{name: "hw.energy", unit: "J", sum: true, monotonic: true},
	{name: "hw.errors", unit: "{error}", sum: true, monotonic: true, integer: true, attr: "error.type", values: []string{"corrected", "uncorrected"}},
	{name: "hw.gpu.memory.limit", unit: "By", sum: true, integer: true},
	{name: "hw.gpu.memory.usage", unit: "By", sum: true, integer: true},
	{name: "hw.gpu.utilization", unit: "1", attr: "hw.gpu.task", values: []string{"general", "encoder", "decoder"}},
	{name: "hw.power", unit: "W"},
	{name: "hw.temperature", unit: "Cel", attr: "hw.sensor_location", values: []string{"gpu", "memory"}},
	{name: "nvidia.gpu.bar1.limit", unit: "By", sum: true, integer: true},
	{name: "nvidia.gpu.bar1.usage", unit: "By", sum: true, integer: true},
	{name: "nvidia.gpu.clock.frequency", unit: "Hz", integer: true, attr: "nvidia.gpu.clock", values: []string{"graphics", "sm", "memory"}},
	{name: "nvidia.gpu.clock.max", unit: "Hz", integer: true, attr: "nvidia.gpu.clock", values: []string{"graphics", "sm", "memory"}},
	{name: "nvidia.gpu.clock_event.reason", unit: "{state}", integer: true, attr: "nvidia.gpu.clock_event.reason", values: []string{"gpu_idle", "applications_clocks_setting", "sw_power_cap", "hw_slowdown", "sync_boost", "sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown", "display_clock_setting", "board_limit", "reliability"}},
	{name: "nvidia.gpu.memory.free", unit: "By", sum: true, integer: true},
	{name: "nvidia.gpu.memory.reserved", unit: "By", sum: true, integer: true},
	{name: "nvidia.gpu.memory_controller.utilization", unit: "1"},
	{name: "nvidia.gpu.nvlink.errors", unit: "{error}", sum: true, monotonic: true, integer: true, attr: "error.type", values: []string{"crc_flit", "crc_data", "replay", "recovery"}},
	{name: "nvidia.gpu.nvlink.io", unit: "By", sum: true, monotonic: true, integer: true, attr: "network.io.direction", values: []string{"transmit", "receive"}},
	{name: "nvidia.gpu.pcie.link.generation", unit: "{generation}", integer: true},
	{name: "nvidia.gpu.pcie.link.generation.max", unit: "{generation}", integer: true},
	{name: "nvidia.gpu.pcie.link.width", unit: "{lane}", integer: true},
	{name: "nvidia.gpu.pcie.link.width.max", unit: "{lane}", integer: true},
	{name: "nvidia.gpu.pcie.replay", unit: "{replay}", sum: true, monotonic: true, integer: true},
	{name: "nvidia.gpu.pcie.throughput", unit: "By/s", integer: true, attr: "network.io.direction", values: []string{"transmit", "receive"}},
	{name: "nvidia.gpu.power.limit", unit: "W"},
	{name: "nvidia.gpu.remap.failed", unit: "{state}", integer: true},
	{name: "nvidia.gpu.remap.pending", unit: "{state}", integer: true},
	{name: "nvidia.gpu.remapped_rows", unit: "{row}", sum: true, monotonic: true, integer: true, attr: "nvidia.gpu.remap.cause", values: []string{"correctable", "uncorrectable"}},
	{name: "nvidia.gpu.throttle.time", unit: "s", sum: true, monotonic: true, attr: "nvidia.gpu.throttle.cause", values: []string{"power", "thermal", "sync_boost", "board_limit", "low_utilization", "reliability", "total_app_clocks", "total_base_clocks"}},
}

// gpuScrapes builds what the nvml receiver sends for one host with gpus GPUs
// over scrapes scrapes, interval apart: one resource per GPU and scrape, the
// receiver's resource attributes, values that move the way GPU telemetry
// does (utilization and power noisy, memory steps, counters climbing).
func gpuScrapes(host string, gpus, scrapes int, interval time.Duration, start time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	startTS := pcommon.NewTimestampFromTime(start.Add(-time.Hour))
	for s := 0; s < scrapes; s++ {
		ts := pcommon.NewTimestampFromTime(start.Add(time.Duration(s) * interval))
		for g := 0; g < gpus; g++ {
			rm := md.ResourceMetrics().AppendEmpty()
			ra := rm.Resource().Attributes()
			ra.PutStr("host.name", host)
			ra.PutStr("hw.id", fmt.Sprintf("GPU-%08x-7d3c-4b2a-9f1e-%012x", g*7919+1, g*104729+17))
			ra.PutStr("hw.name", fmt.Sprintf("nvidia%d", g))
			ra.PutStr("hw.vendor", "NVIDIA")
			ra.PutStr("hw.model", "NVIDIA H100 80GB HBM3")
			ra.PutInt("nvidia.gpu.index", int64(g))
			ra.PutInt("nvidia.gpu.numa_node", int64(g/4))
			ra.PutStr("pci.bus_id", fmt.Sprintf("0000:%02x:00.0", 0x18+g*0x10))
			ra.PutStr("nvidia.driver.version", "550.54.15")
			ra.PutStr("nvidia.cuda.driver.version", "12.4")
			ra.PutStr("k8s.namespace.name", "training")
			ra.PutStr("k8s.pod.name", fmt.Sprintf("llama-70b-worker-%d", g/4))
			ra.PutStr("k8s.container.name", "trainer")
			sm := rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName("github.com/acceltel/acceltel/receivers/nvmlreceiver")
			sm.Scope().SetVersion("0.1.0")
			for mi, gm := range nvmlDefaultMetrics {
				m := sm.Metrics().AppendEmpty()
				m.SetName(gm.name)
				m.SetUnit(gm.unit)
				var dps pmetric.NumberDataPointSlice
				if gm.sum {
					sum := m.SetEmptySum()
					sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
					sum.SetIsMonotonic(gm.monotonic)
					dps = sum.DataPoints()
				} else {
					dps = m.SetEmptyGauge().DataPoints()
				}
				values := gm.values
				if len(values) == 0 {
					values = []string{""}
				}
				for vi, v := range values {
					dp := dps.AppendEmpty()
					dp.SetTimestamp(ts)
					if gm.sum {
						dp.SetStartTimestamp(startTS)
					}
					if v != "" {
						dp.Attributes().PutStr(gm.attr, v)
					}
					x := gpuValue(mi, vi, g, s, gm)
					if gm.integer {
						dp.SetIntValue(int64(x))
					} else {
						dp.SetDoubleValue(x)
					}
				}
			}
		}
	}
	return md
}

// gpuValue is deterministic but shaped like the real signals.
func gpuValue(metric, value, gpu, scrape int, gm gpuMetric) float64 {
	noise := math.Sin(float64(scrape*31 + gpu*17 + metric*7 + value)) // in [-1, 1]
	switch {
	case gm.monotonic:
		return float64(scrape)*(100+float64(gpu+value)) + math.Floor(50*(noise+1))
	case gm.unit == "1":
		return math.Round((0.85+0.1*noise)*1000) / 1000
	case gm.unit == "W":
		return math.Round((650+40*noise)*100) / 100
	case gm.unit == "Cel":
		return float64(60 + (scrape/30+gpu+value)%8)
	case gm.unit == "By":
		return float64(80<<30) - float64((scrape/60+gpu)%4)*(1<<30)
	case gm.unit == "Hz":
		return float64(1980e6 - float64(value)*100e6)
	}
	return float64((gpu + value) % 2)
}
