package planner

import (
	"math"
	"testing"
)

// TestZeROPaperModelStates reproduces the model-state figures of Rajbhandari
// et al. (2020), Figure 1: 7.5B parameters, 64-way data parallelism, mixed
// precision Adam: 120, 31.4, 16.6 and 1.88 GB for ZeRO stages 0-3.
func TestZeROPaperModelStates(t *testing.T) {
	want := []float64{120, 31.4, 16.6, 1.88}
	for stage, w := range want {
		got := ZeROModelStateBytes(7.5e9, 64, stage, BF16) / 1e9
		if math.Abs(got-w) > 0.005*w+0.005 {
			t.Errorf("stage %d: %.3f GB, want %.2f", stage, got, w)
		}
	}
}

// TestDeepSpeedEstimators checks the closed forms DeepSpeed's
// estimate_zero2/3_model_states_mem_needs use without offload.
func TestDeepSpeedEstimators(t *testing.T) {
	const p = int64(7_500_000_000)
	if got, want := DeepSpeedZeRO2Bytes(p, 64), 4*p+16*p/64; got != want {
		t.Errorf("zero2: %d, want %d", got, want)
	}
	// int() truncation as in DeepSpeed: 16·1,000,003/3 = 5,333,349.33.
	if got := DeepSpeedZeRO2Bytes(1_000_003, 3); got != 4*1_000_003+5_333_349 {
		t.Errorf("zero2 truncation: %d", got)
	}
	largest := int64(12288 * 12288 * 4) // one 4h×h matrix of GPT-3
	if got, want := DeepSpeedZeRO3Bytes(p, largest, 64), 4*largest+18*p/64; got != want {
		t.Errorf("zero3: %d, want %d", got, want)
	}
	if got := DeepSpeedZeRO3Bytes(1_000_003, 10, 7); got != 40+2_571_436 {
		t.Errorf("zero3 truncation: %d", got)
	}
}

// TestPlannerMemoryFollowsZeRO checks that the planner's model states of a
// pure data-parallel layout are the ZeRO paper's (the planner keeps its own
// buffers, reserve and ZeRO-3 gather on top, which the paper leaves out).
func TestPlannerMemoryFollowsZeRO(t *testing.T) {
	m, err := Model{Layers: 32, Hidden: 4096, Heads: 32, SeqLen: 2048, GlobalBatch: 64, Vocab: 51200}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	g, _ := GPUPreset("a100-80gb")
	c, _ := Cluster{GPU: g, GPUs: 64, GPUsPerNode: 8}.Normalize()
	for stage := 0; stage <= 3; stage++ {
		l := Layout{TP: 1, PP: 1, DP: 64, CP: 1, ZeRO: stage, Recompute: RecomputeFull, MicroBatch: 1, VirtualStages: 1}
		mem := m.memory(l, &c, Options{})
		got := mem.Weights + mem.Gradients + mem.Optimizer // transformer layers; embedding states are reported apart
		want := ZeROModelStateBytes(float64(m.Layers)*m.LayerParams(), 64, stage, BF16)
		if math.Abs(got-want)/want > 1e-9 {
			t.Errorf("stage %d: %.4g bytes of model states, want %.4g", stage, got, want)
		}
	}
}

// TestActivationsKorthikanti checks sbh(34 + 5as/h) per layer and the
// recomputation variants against Korthikanti et al. (2022).
func TestActivationsKorthikanti(t *testing.T) {
	m, _ := Model{Layers: 96, Hidden: 12288, Heads: 96, SeqLen: 2048, GlobalBatch: 8, Vocab: 51200}.Normalize()
	s, b, h, a := 2048.0, 1.0, 12288.0, 96.0
	total, scores := m.layerActivationBytes(1)
	if want := s * b * h * (34 + 5*a*s/h); math.Abs(total-want) > 1 {
		t.Errorf("layer activations %.6g, want %.6g", total, want)
	}
	if want := 5 * a * s * s * b; math.Abs(scores-want) > 1 {
		t.Errorf("score activations %.6g, want %.6g", scores, want)
	}
	g, _ := GPUPreset("a100-80gb")
	c, _ := Cluster{GPU: g, GPUs: 8, GPUsPerNode: 8}.Normalize()
	per := func(r Recompute) float64 {
		l := Layout{TP: 8, PP: 1, DP: 1, CP: 1, Recompute: r, MicroBatch: 1, VirtualStages: 1}
		return m.memory(l, &c, Options{}).Activations
	}
	if got, want := per(RecomputeNone), 96*s*b*h*(34+5*a*s/h)/8; math.Abs(got-want)/want > 1e-9 {
		t.Errorf("none: %.6g, want %.6g", got, want)
	}
	if got, want := per(RecomputeSelective), 96*s*b*h*34/8; math.Abs(got-want)/want > 1e-9 {
		t.Errorf("selective: %.6g, want %.6g", got, want)
	}
	if got, want := per(RecomputeFull), (96*2*s*b*h+s*b*h*(34+5*a*s/h))/8; math.Abs(got-want)/want > 1e-9 {
		t.Errorf("full: %.6g, want %.6g", got, want)
	}
}

// TestFirstStageHoldsPipelineDepth: with 1F1B the first stage keeps pp
// micro-batches in flight, the last one.
func TestFirstStageHoldsPipelineDepth(t *testing.T) {
	m, _ := Model{Layers: 32, Hidden: 4096, Heads: 32, SeqLen: 2048, GlobalBatch: 64, Vocab: 51200}.Normalize()
	g, _ := GPUPreset("a100-80gb")
	c, _ := Cluster{GPU: g, GPUs: 8, GPUsPerNode: 8}.Normalize()
	l := Layout{TP: 1, PP: 8, DP: 1, CP: 1, Recompute: RecomputeSelective, MicroBatch: 1, VirtualStages: 1}
	act, scores := m.layerActivationBytes(1)
	got := m.memory(l, &c, Options{}).Activations
	if want := 8 * 4 * (act - scores); math.Abs(got-want)/want > 1e-9 {
		t.Errorf("first stage activations %.6g, want %.6g (8 micro-batches × 4 layers)", got, want)
	}
}
