package planner

import (
	"errors"
	"strings"
	"testing"
)

func gpt3On(t testing.TB, gpus int) (Model, Cluster) {
	t.Helper()
	m, _ := ModelPreset("gpt3-175b")
	g, _ := GPUPreset("h100-sxm")
	return m, Cluster{GPU: g, GPUs: gpus, GPUsPerNode: 8}
}

func TestPlanRanksFittingLayoutsBestFirst(t *testing.T) {
	m, c := gpt3On(t, 1024)
	res, err := Plan(m, c, Constraints{}, Options{OverlapGradReduce: true}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Layouts) != 5 || res.Fitting < 5 || res.Considered < res.Fitting {
		t.Fatalf("layouts %d, fitting %d, considered %d", len(res.Layouts), res.Fitting, res.Considered)
	}
	for i, e := range res.Layouts {
		if !e.Fits || e.Memory.Total > e.MemoryCapacity {
			t.Errorf("#%d %v does not fit", i+1, e.Layout)
		}
		if e.GPUs() != 1024 || e.Check(&res.Model, &res.Cluster, false) != nil {
			t.Errorf("#%d %v is invalid", i+1, e.Layout)
		}
		if i > 0 && e.Time.Total < res.Layouts[i-1].Time.Total {
			t.Errorf("#%d is faster than #%d", i+1, i)
		}
		if e.MFU <= 0 || e.MFU >= 1 || e.TFLOPSPerGPU < e.MFU*c.GPU.PeakTFLOPS {
			t.Errorf("#%d: mfu %.3f, %.1f TFLOP/s", i+1, e.MFU, e.TFLOPSPerGPU)
		}
	}
	// 175B in 16-bit alone is 350 GB: it cannot run without model parallelism.
	if b := res.Layouts[0]; b.TP*b.PP == 1 && b.ZeRO < 3 {
		t.Errorf("best %v keeps a 175B model on one GPU", b.Layout)
	}
	lines := res.Explain()
	if len(lines) != 3+4 || !strings.Contains(lines[1], "memory per GPU") || !strings.Contains(lines[3], "%") {
		t.Errorf("explanation:\n%s", strings.Join(lines, "\n"))
	}
}

func TestPlanHonoursFixedDimensions(t *testing.T) {
	m, c := gpt3On(t, 1024)
	zero := 1
	res, err := Plan(m, c, Constraints{TP: 8, PP: 16, MicroBatch: 1, ZeRO: &zero, Recompute: RecomputeSelective}, Options{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Layouts) == 0 {
		t.Fatalf("nothing fits: %v", res.Explain())
	}
	for _, e := range res.Layouts {
		if e.TP != 8 || e.PP != 16 || e.DP*e.CP != 8 || e.MicroBatch != 1 || e.ZeRO != 1 || e.Recompute != RecomputeSelective {
			t.Errorf("%v ignores the constraints", e.Layout)
		}
	}
}

func TestPlanExplainsWhenNothingFits(t *testing.T) {
	m, c := gpt3On(t, 8)
	res, err := Plan(m, c, Constraints{}, Options{}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Layouts) != 0 || len(res.Closest) == 0 {
		t.Fatalf("175B on 8 GPUs: %d layouts fit, %d closest", len(res.Layouts), len(res.Closest))
	}
	if lines := res.Explain(); !strings.Contains(lines[0], "fits") || !strings.Contains(lines[1], "GiB") {
		t.Errorf("explanation:\n%s", strings.Join(lines, "\n"))
	}
}

func TestPlanRejectsImpossibleConstraints(t *testing.T) {
	m, c := gpt3On(t, 64)
	_, err := Plan(m, c, Constraints{TP: 5}, Options{}, 5)
	if !errors.Is(err, ErrNoLayout) || !strings.Contains(err.Error(), "tp 5") {
		t.Errorf("tp 5: %v", err)
	}
	_, err = Plan(m, c, Constraints{PP: 7}, Options{}, 5)
	if !errors.Is(err, ErrNoLayout) {
		t.Errorf("pp 7: %v", err)
	}
	bad := m
	bad.Hidden = 1000
	if _, err := Plan(bad, c, Constraints{}, Options{}, 5); err == nil || !strings.Contains(err.Error(), "divisible") {
		t.Errorf("hidden 1000, 96 heads: %v", err)
	}
}

func TestRecomputationTradesTimeForMemory(t *testing.T) {
	m, c := gpt3On(t, 64)
	m, _ = m.Normalize()
	c, _ = c.Normalize()
	base := Layout{TP: 8, PP: 8, DP: 1, CP: 1, MicroBatch: 1, VirtualStages: 1}
	var prevMem, prevTime float64
	for i, r := range []Recompute{RecomputeFull, RecomputeSelective, RecomputeNone} {
		l := base
		l.Recompute = r
		e, err := Evaluate(&m, &c, l, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && (e.Memory.Activations <= prevMem || e.Time.Total >= prevTime) {
			t.Errorf("%s: activations %.3g (before %.3g), time %.4g (before %.4g)", r, e.Memory.Activations, prevMem, e.Time.Total, prevTime)
		}
		prevMem, prevTime = e.Memory.Activations, e.Time.Total
	}
}

func TestBubbleShrinksWithInterleaving(t *testing.T) {
	m, c := gpt3On(t, 64)
	m, _ = m.Normalize()
	c, _ = c.Normalize()
	l := Layout{TP: 8, PP: 8, DP: 1, CP: 1, MicroBatch: 1, VirtualStages: 1, Recompute: RecomputeFull}
	plain, err := Evaluate(&m, &c, l, Options{})
	if err != nil {
		t.Fatal(err)
	}
	l.VirtualStages = 4
	inter, err := Evaluate(&m, &c, l, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ratio := inter.Time.PipelineBubble / plain.Time.PipelineBubble
	if ratio < 0.2 || ratio > 0.3 {
		t.Errorf("bubble with 4 virtual stages is %.2f of plain 1F1B, want about 1/4", ratio)
	}
	if inter.Time.PipelineP2P <= plain.Time.PipelineP2P {
		t.Error("interleaving should send more between stages")
	}
}

func TestIterationFLOPsMatchMegatronFormula(t *testing.T) {
	m, _ := Model{Layers: 96, Hidden: 12288, Heads: 96, SeqLen: 2048, GlobalBatch: 1536, Vocab: 51200}.Normalize()
	B, s, l, h, V := 1536.0, 2048.0, 96.0, 12288.0, 51200.0
	want := 96 * B * s * l * h * h * (1 + s/(6*h) + V/(16*l*h))
	if got := m.IterationFLOPs(RecomputeFull, true); abs(got-want)/want > 1e-12 {
		t.Errorf("hardware FLOPs %.6g, want %.6g", got, want)
	}
	want = 72 * B * s * l * h * h * (1 + s/(6*h) + V/(12*l*h))
	if got := m.IterationFLOPs(RecomputeFull, false); abs(got-want)/want > 1e-12 {
		t.Errorf("model FLOPs %.6g, want %.6g", got, want)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestShapeFromParams(t *testing.T) {
	m, err := Model{Params: 70e9, SeqLen: 4096, GlobalBatch: 512}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	if p := m.TotalParams(); p < 60e9 || p > 80e9 {
		t.Errorf("derived %d×%d (%d heads) has %.3g params", m.Layers, m.Hidden, m.Heads, p)
	}
}

func BenchmarkPlan175Bon4096(b *testing.B) {
	m, c := gpt3On(b, 4096)
	b.ReportAllocs()
	var considered int
	for b.Loop() {
		res, err := Plan(m, c, Constraints{}, Options{OverlapGradReduce: true}, 5)
		if err != nil {
			b.Fatal(err)
		}
		considered = res.Considered
	}
	b.ReportMetric(float64(considered), "layouts/op")
}

// By default each layout appears once, at its best micro-batch and
// interleaving: the same top k as ranking every variant and keeping the
// first of each group, which the streaming top-k must reproduce exactly.
func TestPlanRanksEachLayoutOnceAtItsBestVariant(t *testing.T) {
	for _, gpus := range []int{64, 256, 1024} {
		m, c := gpt3On(t, gpus)
		all, err := Plan(m, c, Constraints{AllVariants: true}, Options{OverlapGradReduce: true}, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		var want []Layout
		seen := map[Layout]bool{}
		for _, e := range all.Layouts {
			if g := e.VariantGroup(); !seen[g] {
				seen[g] = true
				want = append(want, e.Layout)
			}
		}
		if len(want) == len(all.Layouts) {
			t.Fatalf("%d GPUs: no layout has two variants that fit; the test checks nothing", gpus)
		}
		for _, k := range []int{1, 5, 20} {
			res, err := Plan(m, c, Constraints{}, Options{OverlapGradReduce: true}, k)
			if err != nil {
				t.Fatal(err)
			}
			n := min(k, len(want))
			if len(res.Layouts) != n {
				t.Fatalf("%d GPUs, top %d: %d layouts, want %d", gpus, k, len(res.Layouts), n)
			}
			for i := range n {
				if res.Layouts[i].Layout != want[i] {
					t.Errorf("%d GPUs, top %d: #%d %v, want %v", gpus, k, i+1, res.Layouts[i].Layout, want[i])
				}
			}
		}
	}
}
