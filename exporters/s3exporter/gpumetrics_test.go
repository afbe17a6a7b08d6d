package s3exporter

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"gopkg.in/yaml.v3"
)

// gpuMetric is one metric the nvml receiver emits by default, with every
// combination of the attribute values it takes.
type gpuMetric struct {
	name, unit string
	sum        bool // cumulative sum, else gauge
	monotonic  bool
	integer    bool
	points     [][2][]string // per data point: attribute names, values
}

// nvmlDefaultMetrics reads the nvml receiver's metadata.yaml, so that the
// fixture follows what the receiver emits: every metric enabled by default
// whose attributes are all enums (the XID counter, keyed by a free integer,
// and the receiver's availability, on its own resource, are left out).
var nvmlDefaultMetrics = sync.OnceValue(func() []gpuMetric {
	type metric struct {
		Enabled    bool     `yaml:"enabled"`
		Unit       string   `yaml:"unit"`
		Attributes []string `yaml:"attributes"`
		Sum        *struct {
			ValueType string `yaml:"value_type"`
			Monotonic bool   `yaml:"monotonic"`
		} `yaml:"sum"`
		Gauge *struct {
			ValueType string `yaml:"value_type"`
		} `yaml:"gauge"`
	}
	var md struct {
		Attributes map[string]struct {
			NameOverride string   `yaml:"name_override"`
			Enum         []string `yaml:"enum"`
		} `yaml:"attributes"`
		Metrics map[string]metric `yaml:"metrics"`
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "receivers", "nvmlreceiver", "metadata.yaml"))
	if err != nil {
		panic(err)
	}
	if err := yaml.Unmarshal(b, &md); err != nil {
		panic(err)
	}
	var out []gpuMetric
	for _, name := range slices.Sorted(maps.Keys(md.Metrics)) {
		m := md.Metrics[name]
		if !m.Enabled || name == "acceltel.receiver.available" {
			continue
		}
		gm := gpuMetric{name: name, unit: m.Unit, points: [][2][]string{{nil, nil}}}
		if m.Sum != nil {
			gm.sum, gm.monotonic, gm.integer = true, m.Sum.Monotonic, m.Sum.ValueType == "int"
		} else {
			gm.integer = m.Gauge.ValueType == "int"
		}
		enums := true
		for _, a := range m.Attributes {
			attr := md.Attributes[a]
			if len(attr.Enum) == 0 {
				enums = false
				break
			}
			key := cmp.Or(attr.NameOverride, a)
			var next [][2][]string
			for _, p := range gm.points {
				for _, v := range attr.Enum {
					next = append(next, [2][]string{append(slices.Clone(p[0]), key), append(slices.Clone(p[1]), v)})
				}
			}
			gm.points = next
		}
		if enums {
			out = append(out, gm)
		}
	}
	return out
})

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
			for mi, gm := range nvmlDefaultMetrics() {
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
				for vi, p := range gm.points {
					dp := dps.AppendEmpty()
					dp.SetTimestamp(ts)
					if gm.sum {
						dp.SetStartTimestamp(startTS)
					}
					for i, k := range p[0] {
						dp.Attributes().PutStr(k, p[1][i])
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
