package parallelismprocessor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"gopkg.in/yaml.v3"

	"github.com/acceltel/acceltel/internal/planner"
)

// hardwareMetrics is what the nvml, nccl and infiniband receivers of one
// node send; host "" leaves host.name out.
func hardwareMetrics(now time.Time, host string, memLimit int64, busBW map[[2]any]float64, portRates ...float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	ts := pcommon.NewTimestampFromTime(now)
	resource := func(attrs map[string]any) pmetric.MetricSlice {
		rm := md.ResourceMetrics().AppendEmpty()
		if host != "" {
			attrs["host.name"] = host
		}
		_ = rm.Resource().Attributes().FromRaw(attrs)
		return rm.ScopeMetrics().AppendEmpty().Metrics()
	}
	for gpu := range 4 {
		m := resource(map[string]any{"hw.id": "GPU-" + string(rune('a'+gpu)), "hw.model": "NVIDIA H100 80GB HBM3", "hw.vendor": "NVIDIA"}).AppendEmpty()
		m.SetName("hw.gpu.memory.limit")
		m.SetUnit("By")
		dp := m.SetEmptySum().DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetIntValue(memLimit - int64(gpu)) // the smallest GPU counts
	}
	if len(busBW) > 0 {
		m := resource(map[string]any{"service.name": "nccl"}).AppendEmpty()
		m.SetName("nccl.collective.bus_bandwidth")
		m.SetUnit("By/s")
		dps := m.SetEmptyGauge().DataPoints()
		for k, v := range busBW {
			dp := dps.AppendEmpty()
			dp.SetTimestamp(ts)
			dp.SetDoubleValue(v)
			dp.Attributes().PutStr("nccl.collective", k[0].(string))
			dp.Attributes().PutInt("nccl.communicator.nodes", int64(k[1].(int)))
		}
	}
	for i, rate := range portRates {
		m := resource(map[string]any{"infiniband.device": "mlx5_" + string(rune('0'+i))}).AppendEmpty()
		m.SetName("infiniband.port.rate")
		m.SetUnit("By/s")
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetIntValue(int64(rate))
		dp.Attributes().PutInt("infiniband.port", 1)
		dp.Attributes().PutStr("infiniband.link_layer", "InfiniBand")
	}
	return md
}

func TestMeasuredHardwareFeedsThePlanner(t *testing.T) {
	const limit = 81559 << 20 // what NVML reports for an 80 GB H100
	_, best := planFor(t, smallModel("x", nil), planner.Layout{})
	attrs := smallModel("job-hw", layoutAttrs(best.Layout))
	delete(attrs, "ml.job.gpu.model") // the GPU receiver says what it is
	attrs["host.name"] = "node-1"

	for _, tt := range []struct {
		name      string
		hwHost    string
		busBW     map[[2]any]float64
		ports     []float64
		wantIntra float64
		wantInter float64
	}{
		{
			name:   "nccl",
			hwHost: "node-1",
			busBW: map[[2]any]float64{
				{"AllReduce", 1}: 3.52e11, {"all_reduce", 2}: 4.6e10,
				{"allgather", 2}: 9e10, // not what the planner's bandwidths are
			},
			wantIntra: 350, wantInter: 370,
		},
		{
			name:      "infiniband, two NICs for four GPUs",
			hwHost:    "node-1",
			ports:     []float64{5e10, 5e10},
			wantIntra: 370, wantInter: 200,
		},
		{
			name:      "a single machine's receivers without host.name",
			hwHost:    "",
			ports:     []float64{5e10, 5e10, 5e10, 5e10, 1.25e10},
			wantIntra: 370, wantInter: 400,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.DefaultGPU = "" })
			job := newTrainingJob(attrs)
			var ticks []pmetric.Metrics
			for range 7 {
				h.clock = h.clock.Add(10 * time.Second)
				md := hardwareMetrics(h.clock, tt.hwHost, limit, tt.busBW, tt.ports...)
				job.report(t, md, h.clock, 5, best.IterationSeconds)
				if out := h.send(md); plans(out)["job-hw"].gauges != nil {
					ticks = append(ticks, out)
				}
			}
			require.Len(t, ticks, 1, "planned with the GPU the receiver reported")

			key, cur, _, err := h.p.inputs(h.p.jobs["job-hw"], h.clock)
			require.NoError(t, err)
			g := key.cluster.GPU
			assert.Equal(t, "h100-sxm", g.Name)
			assert.InDelta(t, float64(limit-3)/(1<<30), g.MemoryGiB, 1e-12)
			assert.InDelta(t, tt.wantIntra, g.IntraNodeGBs, 0)
			assert.InDelta(t, tt.wantInter, g.InterNodeGbps, 0)

			e, err := planner.Evaluate(&key.model, &key.cluster, cur, key.opts)
			require.NoError(t, err)
			headroom := plans(ticks[0])["job-hw"].gauges["acceltel.plan.memory.headroom"]
			require.NotEmpty(t, headroom)
			assert.InDelta(t, float64(limit-3)-e.Memory.Total, float64(headroom[0].IntValue()), 1)
		})
	}
}

func TestHardwareOfOtherHostsIsNotUsed(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.DefaultGPU = "a100-40gb" })
	_, best := planFor(t, smallModel("x", nil), planner.Layout{})
	attrs := smallModel("job-elsewhere", layoutAttrs(best.Layout))
	delete(attrs, "ml.job.gpu.model")
	attrs["host.name"] = "node-7"
	job := newTrainingJob(attrs)
	for range 7 {
		h.clock = h.clock.Add(10 * time.Second)
		md := hardwareMetrics(h.clock, "node-1", 81559<<20, nil, 5e10)
		job.report(t, md, h.clock, 5, best.IterationSeconds)
		h.send(md)
	}
	key, _, _, err := h.p.inputs(h.p.jobs["job-elsewhere"], h.clock)
	require.NoError(t, err)
	want, _ := planner.GPUPreset("a100-40gb")
	assert.Equal(t, want, key.cluster.GPU, "node-1's H100s say nothing about node-7")
}

func TestUnitScale(t *testing.T) {
	for _, tt := range []struct {
		unit, base string
		want       float64
	}{
		{"By", "By", 1}, {"MiBy", "By", 1 << 20}, {"GBy", "By", 1e9},
		{"By/s", "By/s", 1}, {"GBy/s", "By/s", 1e9}, {"Gbit/s", "By/s", 1e9 / 8}, {"bit/s", "By/s", 1.0 / 8},
		{"By", "By/s", 0}, {"1", "By", 0}, {"bit", "By", 0}, {"XBy", "By", 0},
	} {
		assert.InDelta(t, tt.want, unitScale(tt.unit, tt.base), 0, "%s in %s", tt.unit, tt.base)
	}
}

func TestIsAllReduce(t *testing.T) {
	for _, s := range []string{"allreduce", "AllReduce", "all_reduce", "ncclAllReduce", "all_reduce_perf"} {
		assert.True(t, isAllReduce(s), s)
	}
	for _, s := range []string{"allgather", "reduce_scatter", "reduce", ""} {
		assert.False(t, isAllReduce(s), s)
	}
}

// costRates is what the cost processor sends for each GPU of a node: its
// price per hour as acceltel.cost.rate on the GPU's resource.
func costRates(md pmetric.Metrics, now time.Time, host, unit string, rates ...float64) {
	for i, r := range rates {
		rm := md.ResourceMetrics().AppendEmpty()
		attrs := rm.Resource().Attributes()
		attrs.PutStr("hw.id", fmt.Sprintf("GPU-%s-%d", host, i))
		if host != "" {
			attrs.PutStr("host.name", host)
		}
		m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		m.SetName("acceltel.cost.rate")
		m.SetUnit(unit)
		dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(now))
		dp.SetDoubleValue(r)
		dp.Attributes().PutStr("acceltel.cost.rate_kind", "on_demand")
		dp.Attributes().PutStr("acceltel.cost.rule", "h100")
	}
}

// Without price_per_gpu_hour, steps are priced at the mean rate the cost
// processor reported for the GPUs of the job's hosts; other hosts' GPUs,
// and rates in a unit that is not per hour, do not count. A configured
// price wins over the price book's.
func TestCostProcessorRatePricesSteps(t *testing.T) {
	bad := planner.Layout{TP: 8, PP: 1, DP: 1, CP: 1, MicroBatch: 1, VirtualStages: 1, Recompute: planner.RecomputeNone}
	attrs := smallModel("job-rate", layoutAttrs(bad))
	attrs["host.name"] = "node-1"
	cur, best := planFor(t, attrs, bad)
	for _, tt := range []struct {
		name       string
		configured float64
		want       float64
	}{
		{"price book", 0, 3},
		{"configured", 5, 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.PricePerGPUHour = tt.configured })
			job := newTrainingJob(attrs)
			var tick pmetric.Metrics
			for range 7 {
				h.clock = h.clock.Add(10 * time.Second)
				md := pmetric.NewMetrics()
				costRates(md, h.clock, "node-1", "{USD}/h", 2, 2, 4, 4)
				costRates(md, h.clock, "node-2", "{USD}/h", 40)
				costRates(md, h.clock, "node-1", "{USD}/min", 1)
				job.report(t, md, h.clock, 5, cur.IterationSeconds)
				if out := h.send(md); plans(out)["job-rate"].gauges != nil {
					tick = out
				}
			}
			got := plans(tick)["job-rate"]
			require.NotNil(t, got.gauges, "never planned")
			f := got.value(t, "acceltel.plan.calibration.factor")
			costs := map[string]float64{}
			for _, dp := range got.gauges["acceltel.plan.step.cost"] {
				l, _ := dp.Attributes().Get("acceltel.plan.layout")
				costs[l.Str()] = dp.DoubleValue()
			}
			assert.InDelta(t, f*cur.IterationSeconds/3600*8*tt.want, costs["current"], 1e-12)
			assert.InDelta(t, f*best.IterationSeconds/3600*8*tt.want, costs["recommended"], 1e-12)
		})
	}
}

// The rate is read under the name and unit the cost processor declares.
func TestCostRateContract(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "costprocessor", "metadata.yaml"))
	require.NoError(t, err)
	var md struct {
		Metrics map[string]struct {
			Unit  string         `yaml:"unit"`
			Gauge map[string]any `yaml:"gauge"`
		} `yaml:"metrics"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &md))
	m, ok := md.Metrics[metricCostRate]
	require.True(t, ok, "the cost processor no longer emits %s", metricCostRate)
	assert.True(t, strings.HasSuffix(m.Unit, "/h"), "unit %q is not per hour", m.Unit)
	assert.NotNil(t, m.Gauge)
}
