package costprocessor

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

const eps = 1e-9

func p5Config() *Config {
	return testConfig(PriceRule{
		Name: "aws-p5", InstanceType: "p5.48xlarge",
		Instance: &InstanceConfig{GPUs: 8, VCPUs: 192, MemoryGiB: 2048, GPUShare: 1},
		Rates:    map[string]float64{"on_demand": 98.32, "spot": 40},
	})
}

// p5Batch is one scrape of an 8×H100 node where GPUs 0-3 run pods of one job
// and GPUs 4-7 are held by nobody.
func p5Batch(at time.Duration) pmetric.Metrics {
	md := pmetric.NewMetrics()
	for i := range 8 {
		a := map[string]string{"hw.id": fmt.Sprintf("GPU-%d", i), "hw.model": "NVIDIA H100 80GB HBM3", "host.name": "node-1", "host.type": "p5.48xlarge"}
		util := 0.0
		if i < 4 {
			a["k8s.pod.uid"], a["k8s.pod.name"], a["k8s.namespace.name"], a["k8s.job.name"] = fmt.Sprintf("uid-%d", i), fmt.Sprintf("train-%d", i), "ml", "train"
			util = 0.9
		}
		gauge(gpuRes(md, a), "hw.gpu.utilization", at, util, nil)
	}
	return md
}

func TestEightH100HalfIdle(t *testing.T) {
	h := newHarness(t, p5Config(), nil)
	defer h.stop()
	first := h.consume(p5Batch(0))
	assert.Empty(t, points(first, "acceltel.cost.allocated"), "a first sample has no interval to bill")
	rates := points(first, "acceltel.cost.rate")
	require.Len(t, rates, 8)
	assert.InDelta(t, 98.32/8, rates[0].value, eps)
	assert.Equal(t, "on_demand", rates[0].attrs["acceltel.cost.rate_kind"])

	out := h.consume(p5Batch(time.Hour))
	alloc, idle := points(out, "acceltel.cost.allocated"), points(out, "acceltel.cost.idle")
	require.Len(t, alloc, 4)
	require.Len(t, idle, 4)
	for _, p := range alloc {
		assert.InDelta(t, 12.29, p.value, eps)
		assert.Equal(t, "ml", p.attrs["k8s.namespace.name"])
		assert.Equal(t, "train", p.attrs["k8s.job.name"])
		assert.Equal(t, "aws-p5", p.attrs["acceltel.cost.rule"])
		assert.Equal(t, ts(0), p.start)
	}
	for _, p := range idle {
		assert.Equal(t, "unallocated", p.attrs["acceltel.cost.idle.reason"])
		assert.NotContains(t, p.attrs, "k8s.pod.uid")
	}
	assert.InDelta(t, 98.32, total(alloc, nil)+total(idle, nil), eps)
	assert.InDelta(t, 98.32/2, total(idle, nil), eps)
	// The input goes through untouched, outputs are appended.
	assert.Equal(t, 8+8, out.ResourceMetrics().Len())
}

func TestSpotRateFromNodeAttribute(t *testing.T) {
	cfg := p5Config()
	cfg.RateKindAttribute = "karpenter.sh/capacity-type"
	h := newHarness(t, cfg, nil)
	defer h.stop()
	batch := func(at time.Duration) pmetric.Metrics {
		md := pmetric.NewMetrics()
		gauge(gpuRes(md, map[string]string{"hw.id": "GPU-0", "host.type": "p5.48xlarge", "karpenter.sh/capacity-type": "SPOT"}), "hw.gpu.utilization", at, 0.5, nil)
		return md
	}
	h.consume(batch(0))
	out := h.consume(batch(30 * time.Minute))
	idle := points(out, "acceltel.cost.idle")
	require.Len(t, idle, 1)
	assert.InDelta(t, 40.0/8/2, idle[0].value, eps)
	assert.Equal(t, "spot", idle[0].attrs["acceltel.cost.rate_kind"])
}

func TestUtilizationThreshold(t *testing.T) {
	h := newHarness(t, p5Config(), nil)
	defer h.stop()
	batch := func(at time.Duration, util float64) pmetric.Metrics {
		md := pmetric.NewMetrics()
		ms := gpuRes(md, map[string]string{"hw.id": "GPU-0", "host.type": "p5.48xlarge", "k8s.pod.uid": "u1", "k8s.pod.name": "p1"})
		gauge(ms, "hw.gpu.utilization", at, util, nil)
		// Encoder load does not make a GPU busy.
		gauge(ms, "hw.gpu.utilization", at, 0.9, map[string]string{"hw.gpu.task": "encoder"})
		return md
	}
	h.consume(batch(0, 0.01))
	out := h.consume(batch(time.Hour, 0.01))
	idle := points(out, "acceltel.cost.idle")
	require.Len(t, idle, 1)
	assert.Equal(t, "allocated_underused", idle[0].attrs["acceltel.cost.idle.reason"])
	assert.Equal(t, "u1", idle[0].attrs["k8s.pod.uid"])
	assert.Empty(t, points(out, "acceltel.cost.allocated"))
	out = h.consume(batch(2*time.Hour, 0.5))
	alloc := points(out, "acceltel.cost.allocated")
	require.Len(t, alloc, 1)
	assert.InDelta(t, 12.29, alloc[0].value, eps)
	assert.Equal(t, ts(time.Hour), alloc[0].start, "a series starts where its first interval starts")
}

// An A100 split by MIG into 3g (busy), 2g (held, idle) and 1g (free), one
// of its 7 compute slices left unpartitioned, priced on-prem with energy.
func TestMIGPartitionedA100(t *testing.T) {
	cfg := testConfig(PriceRule{
		Name: "dc-a100", Model: "NVIDIA A100-SXM4-80GB",
		OnPrem:            &OnPremConfig{PurchasePrice: 8 * 15000, GPUs: 8, LifetimeYears: 4, HostingPerHour: 0.1},
		ElectricityPerKWh: 0.2, PUE: 1.5,
	})
	h := newHarness(t, cfg, nil)
	defer h.stop()
	base := map[string]string{"hw.id": "GPU-a100", "hw.model": "NVIDIA A100-SXM4-80GB", "host.name": "dc-7"}
	batch := func(at time.Duration, joules float64) pmetric.Metrics {
		md := pmetric.NewMetrics()
		counter(gpuRes(md, base), "hw.energy", -time.Hour, at, joules)
		slice := func(uuid, profile, pod string, util float64) {
			a := map[string]string{"nvidia.gpu.mig.uuid": uuid, "nvidia.gpu.mig.profile": profile}
			for k, v := range base {
				a[k] = v
			}
			if pod != "" {
				a["k8s.pod.uid"], a["k8s.pod.name"], a["ml.job.id"] = pod, pod, "job-"+pod
			}
			gauge(gpuRes(md, a), "hw.gpu.utilization", at, util, nil)
		}
		slice("MIG-a", "3g.40gb", "a", 0.8)
		slice("MIG-b", "2g.20gb", "b", 0.01)
		slice("MIG-c", "1g.10gb", "", 0)
		return md
	}
	h.consume(batch(0, 1e6))
	// 2 kWh measured over the hour.
	out := h.consume(batch(time.Hour, 1e6+7.2e6))
	perHour := 15000/(4*365.25*24) + 0.1
	alloc, idle := points(out, "acceltel.cost.allocated"), points(out, "acceltel.cost.idle")
	require.Len(t, alloc, 1)
	assert.Equal(t, "MIG-a", alloc[0].attrs["nvidia.gpu.mig.uuid"])
	assert.Equal(t, "on_prem", alloc[0].attrs["acceltel.cost.rate_kind"])
	assert.InDelta(t, perHour*3/7, alloc[0].value, eps)
	under := total(idle, func(p point) bool { return p.attrs["acceltel.cost.idle.reason"] == "allocated_underused" })
	assert.InDelta(t, perHour*2/7, under, eps)
	unalloc := total(idle, func(p point) bool { return p.attrs["acceltel.cost.idle.reason"] == "unallocated" })
	assert.InDelta(t, perHour*2/7, unalloc, eps, "the free 1g slice and the unpartitioned slice")
	assert.InDelta(t, perHour, total(alloc, nil)+total(idle, nil), eps)

	energy := points(out, "acceltel.cost.energy")
	assert.InDelta(t, 2*0.2*1.5, total(energy, nil), eps)
	ea := total(energy, func(p point) bool { return p.attrs["k8s.pod.uid"] == "a" })
	assert.InDelta(t, 0.6*3/7, ea, eps)
}

// Two pods time-slice one GPU advertised as 4 replicas; the nvml receiver
// measured their processes' SM use.
func TestTimeSlicingTwoPods(t *testing.T) {
	cfg := testConfig(PriceRule{Name: "l4", Model: "NVIDIA L4", Rates: map[string]float64{"on_demand": 1}})
	h := newHarness(t, cfg, nil)
	defer h.stop()
	batch := func(at time.Duration) pmetric.Metrics {
		md := pmetric.NewMetrics()
		for _, pod := range []string{"p1", "p2"} {
			gpuRes(md, map[string]string{"hw.id": "GPU-l4", "hw.model": "NVIDIA L4", "nvidia.gpu.sharing.replicas": "4", "k8s.pod.uid": pod, "k8s.pod.name": pod, "k8s.namespace.name": "inference"})
		}
		ms := gpuRes(md, map[string]string{"hw.id": "GPU-l4", "hw.model": "NVIDIA L4", "nvidia.gpu.sharing.replicas": "4"})
		gauge(ms, "hw.gpu.utilization", at, 0.7, nil)
		gauge(ms, "nvidia.gpu.process.sm.utilization", at, 0.4, map[string]string{"k8s.pod.uid": "p1", "process.pid": "10"})
		gauge(ms, "nvidia.gpu.process.sm.utilization", at, 0.2, map[string]string{"k8s.pod.uid": "p1", "process.pid": "11"})
		gauge(ms, "nvidia.gpu.process.sm.utilization", at, 0.1, map[string]string{"k8s.pod.uid": "p2", "process.pid": "12"})
		return md
	}
	h.consume(batch(0))
	out := h.consume(batch(time.Hour))
	alloc := points(out, "acceltel.cost.allocated")
	require.Len(t, alloc, 2)
	byPod := map[string]float64{}
	for _, p := range alloc {
		byPod[p.attrs["k8s.pod.uid"]] = p.value
	}
	// p1: max(1/4, 0.6); p2: max(1/4, 0.1); 0.15 requested by nobody.
	assert.InDelta(t, 0.6, byPod["p1"], eps)
	assert.InDelta(t, 0.25, byPod["p2"], eps)
	assert.InDelta(t, 0.15, total(points(out, "acceltel.cost.idle"), nil), eps)
	for _, p := range alloc {
		assert.Equal(t, "GPU-l4", p.hwid)
		assert.NotContains(t, p.attrs, "process.pid")
	}
}

func TestPriceChangeInsideInterval(t *testing.T) {
	cfg := testConfig(
		PriceRule{Name: "list-2024", Model: "H100", Until: t0.Add(30 * time.Minute), Rates: map[string]float64{"on_demand": 4}},
		PriceRule{Name: "list-2025", Model: "H100", From: t0.Add(30 * time.Minute), Rates: map[string]float64{"on_demand": 2}},
	)
	h := newHarness(t, cfg, nil)
	defer h.stop()
	batch := func(at time.Duration) pmetric.Metrics {
		md := pmetric.NewMetrics()
		gauge(gpuRes(md, map[string]string{"hw.id": "GPU-0", "hw.model": "H100", "k8s.pod.uid": "u"}), "hw.gpu.utilization", at, 1, nil)
		return md
	}
	h.consume(batch(0))
	out := h.consume(batch(time.Hour))
	alloc := points(out, "acceltel.cost.allocated")
	require.Len(t, alloc, 1)
	assert.InDelta(t, 4*0.5+2*0.5, alloc[0].value, eps)
	assert.Equal(t, "list-2025", alloc[0].attrs["acceltel.cost.rule"])
	rate := points(out, "acceltel.cost.rate")
	require.Len(t, rate, 1)
	assert.InDelta(t, 2, rate[0].value, eps)
}

func TestUnmatchedGPU(t *testing.T) {
	h := newHarness(t, p5Config(), nil)
	defer h.stop()
	batch := func(at time.Duration) pmetric.Metrics {
		md := pmetric.NewMetrics()
		gauge(gpuRes(md, map[string]string{"hw.id": "GPU-x", "hw.model": "NVIDIA B200", "host.type": "on-prem-box", "k8s.pod.uid": "u"}), "hw.gpu.utilization", at, 1, nil)
		gauge(gpuRes(md, map[string]string{"hw.id": "GPU-p", "host.type": "p5.48xlarge"}), "hw.gpu.utilization", at, 1, nil)
		return md
	}
	for i := range 4 {
		out := h.consume(batch(time.Duration(i) * time.Minute))
		un := points(out, "acceltel.cost.unpriced")
		require.Len(t, un, 2)
		for _, p := range un {
			want := map[string]float64{"GPU-x": 1, "GPU-p": 0}[p.hwid]
			assert.Equal(t, want, p.value, p.hwid)
		}
		for _, name := range []string{"acceltel.cost.allocated", "acceltel.cost.idle", "acceltel.cost.rate"} {
			for _, p := range points(out, name) {
				assert.NotEqual(t, "GPU-x", p.hwid, "an unpriced GPU must not be priced at zero (%s)", name)
			}
		}
	}
	logged := h.logs.FilterMessageSnippet("GPU has no price").All()
	require.Len(t, logged, 1, "one log line per GPU, not per interval")
	assert.Equal(t, "GPU-x", logged[0].ContextMap()["hw.id"])
	assert.Equal(t, "NVIDIA B200", logged[0].ContextMap()["hw.model"])
}

func TestGapNotBilled(t *testing.T) {
	cfg := p5Config()
	cfg.MaxGap = 5 * time.Minute
	h := newHarness(t, cfg, nil)
	defer h.stop()
	h.consume(p5Batch(0))
	h.consume(p5Batch(time.Minute))
	// Three hours without data, then one more minute.
	h.consume(p5Batch(3 * time.Hour))
	out := h.consume(p5Batch(3*time.Hour + time.Minute))
	all := total(points(out, "acceltel.cost.allocated"), nil) + total(points(out, "acceltel.cost.idle"), nil)
	// Each GPU-interval is rounded to the nano-dollar once: 16 of them here.
	assert.InDelta(t, 98.32*2/60, all, 16*0.5e-9, "two billed minutes, the gap billed to nobody")
	// A repeated batch bills nothing.
	out = h.consume(p5Batch(3*time.Hour + time.Minute))
	assert.Empty(t, points(out, "acceltel.cost.allocated"))
}

func TestCostPerPFLOPAndTokens(t *testing.T) {
	cfg := testConfig(PriceRule{Name: "h100", Model: "H100", Rates: map[string]float64{"on_demand": 3.6}})
	cfg.PeakTFLOPS = map[string]float64{"H100": 1000}
	h := newHarness(t, cfg, nil)
	defer h.stop()
	batch := func(at time.Duration, tokens float64, bench float64) pmetric.Metrics {
		md := pmetric.NewMetrics()
		ms := gpuRes(md, map[string]string{"hw.id": "GPU-0", "hw.model": "H100", "k8s.pod.uid": "u", "k8s.namespace.name": "ml", "ml.job.id": "run-42"})
		gauge(ms, "hw.gpu.utilization", at, 0.9, nil)
		gauge(ms, "nvidia.gpu.tensor.activity", at, 0.5, nil)
		if bench > 0 {
			gauge(ms, "acceltel.bench.gpu.flops", at, bench, nil)
		}
		counter(gpuRes(md, map[string]string{"ml.job.id": "run-42", "service.name": "trainer"}), "ml.train.tokens", 0, at, tokens)
		return md
	}
	h.consume(batch(0, 0, 0))
	out := h.consume(batch(time.Hour, 2e6, 0))
	pf := points(out, "acceltel.cost.per_pflop")
	require.Len(t, pf, 1)
	// 0.5 × 1e15 FLOP/s × 3600 s = 1800 PFLOP for $3.6.
	assert.InDelta(t, 3.6/1800, pf[0].value, 1e-12)
	tok := points(out, "acceltel.cost.per_million_tokens")
	require.Len(t, tok, 1)
	assert.InDelta(t, 1.8, tok[0].value, eps)
	assert.Equal(t, "run-42", tok[0].attrs["ml.job.id"])
	// A benchmark measured 500 TFLOP/s: that peak replaces the datasheet.
	out = h.consume(batch(2*time.Hour, 3e6, 5e14))
	pf = points(out, "acceltel.cost.per_pflop")
	require.Len(t, pf, 1)
	assert.InDelta(t, 3.6/900, pf[0].value, 1e-12)
	assert.InDelta(t, 3.6, points(out, "acceltel.cost.per_million_tokens")[0].value, eps)
}

func TestDisabledAttributesMergeSeries(t *testing.T) {
	cfg := p5Config()
	cfg.Metrics.AcceltelCostAllocated.EnabledAttributes = nil
	cfg.Metrics.AcceltelCostIdle.Enabled = false
	h := newHarness(t, cfg, nil)
	defer h.stop()
	h.consume(p5Batch(0))
	out := h.consume(p5Batch(time.Hour))
	alloc := points(out, "acceltel.cost.allocated")
	require.Len(t, alloc, 4, "one series per GPU once pod attributes are dropped")
	assert.Empty(t, alloc[0].attrs)
	assert.Empty(t, points(out, "acceltel.cost.idle"))
}

func TestNoGPUsPassThrough(t *testing.T) {
	h := newHarness(t, testConfig(), nil)
	defer h.stop()
	md := pmetric.NewMetrics()
	gauge(gpuRes(md, map[string]string{"host.name": "laptop"}), "system.cpu.utilization", 0, 0.3, nil)
	out := h.consume(md)
	assert.Equal(t, 1, out.ResourceMetrics().Len())
	assert.Empty(t, h.logs.FilterLevelExact(2).All())
}
