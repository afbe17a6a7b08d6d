package planner

import (
	"math"
	"strings"
	"testing"
)

// Evaluate refuses layouts that would divide by zero or have no schedule,
// instead of panicking or returning infinities.
func TestEvaluateRejectsInvalidLayouts(t *testing.T) {
	m, c := gpt3On(t, 64)
	m, _ = m.Normalize()
	c, _ = c.Normalize()
	good := Layout{TP: 8, PP: 8, DP: 1, CP: 1, MicroBatch: 1, VirtualStages: 1, Recompute: RecomputeFull}
	if _, err := Evaluate(&m, &c, good, Options{}); err != nil {
		t.Fatalf("valid layout: %v", err)
	}
	for name, edit := range map[string]func(*Layout){
		"micro-batch 0":    func(l *Layout) { l.MicroBatch = 0 },
		"dp 0":             func(l *Layout) { l.DP = 0 },
		"tp 0":             func(l *Layout) { l.TP = 0 },
		"virtual stages 0": func(l *Layout) { l.VirtualStages = 0 },
		"wrong GPU count":  func(l *Layout) { l.DP = 2 },
		"batch not split":  func(l *Layout) { l.MicroBatch = 5 },
	} {
		l := good
		edit(&l)
		e, err := Evaluate(&m, &c, l, Options{})
		if err == nil {
			t.Errorf("%s: no error (time %v)", name, e.Time.Total)
		}
	}
	var raw Model // not normalized: no FFN width, no kv heads
	raw.Layers, raw.Hidden, raw.Heads, raw.SeqLen, raw.GlobalBatch = 8, 1024, 8, 1024, 8
	if _, err := Evaluate(&raw, &c, good, Options{}); err == nil || !strings.Contains(err.Error(), "normalized") {
		t.Errorf("unnormalized model: %v", err)
	}
}

// ZeRO stages 1 and 2 predict the same time (the same reduction, overlapped
// the same way); the one keeping more memory free must rank first, and ties
// must be ordered by headroom throughout the list.
func TestTiesAreBrokenByMemoryHeadroom(t *testing.T) {
	m, _ := ModelPreset("llama3-8b")
	g, _ := GPUPreset("h100-sxm")
	c := Cluster{GPU: g, GPUs: 16, GPUsPerNode: 8}
	res, err := Plan(m, c, Constraints{TP: 1, PP: 1, CP: 1, MicroBatch: 1, Recompute: RecomputeSelective}, Options{OverlapGradReduce: true}, 4)
	if err != nil {
		t.Fatal(err)
	}
	var zero1, zero2 = -1, -1
	ties := 0
	for i, e := range res.Layouts {
		switch e.ZeRO {
		case 1:
			zero1 = i
		case 2:
			zero2 = i
		}
		if i == 0 {
			continue
		}
		p := res.Layouts[i-1]
		if math.Abs(p.Time.Total-e.Time.Total) <= tieTolerance*e.Time.Total {
			ties++
			if p.MemoryCapacity-p.Memory.Total < e.MemoryCapacity-e.Memory.Total {
				t.Errorf("#%d %v (%.2f GiB free) ranks before #%d %v (%.2f GiB free) at the same time",
					i, p.Layout, gibs(p.MemoryCapacity-p.Memory.Total), i+1, e.Layout, gibs(e.MemoryCapacity-e.Memory.Total))
			}
		} else if p.Time.Total > e.Time.Total {
			t.Errorf("#%d is slower than #%d", i, i+1)
		}
	}
	if ties == 0 || zero1 < 0 || zero2 < 0 {
		t.Fatalf("expected tied ZeRO stages 1 and 2 in %v", res.Layouts)
	}
	if zero2 > zero1 {
		t.Errorf("ZeRO-2 (shards gradients too) ranks #%d, after ZeRO-1 #%d at the same time", zero2+1, zero1+1)
	}
}

// The scale factors multiply their parts: compute alone scales a layout
// without communication uniformly, communication alone only the collectives.
func TestScaleMultipliesItsParts(t *testing.T) {
	m, c := gpt3On(t, 64)
	m, _ = m.Normalize()
	c, _ = c.Normalize()
	l := Layout{TP: 8, PP: 8, DP: 1, CP: 1, MicroBatch: 1, VirtualStages: 1, Recompute: RecomputeFull}
	base, _ := Evaluate(&m, &c, l, Options{})
	one, _ := Evaluate(&m, &c, l, Options{Scale: Scale{Compute: 1, Communication: 1, Bubble: 1}})
	if one.Time != base.Time {
		t.Errorf("unit scale changed the prediction: %+v vs %+v", one.Time, base.Time)
	}
	comm, _ := Evaluate(&m, &c, l, Options{Scale: Scale{Communication: 3}})
	if r := comm.Time.TPComm / base.Time.TPComm; math.Abs(r-3) > 1e-9 {
		t.Errorf("tp comm scaled by %v, want 3", r)
	}
	if r := comm.Time.PipelineP2P / base.Time.PipelineP2P; math.Abs(r-3) > 1e-9 {
		t.Errorf("p2p scaled by %v, want 3", r)
	}
	if comm.Time.Compute != base.Time.Compute {
		t.Error("communication scale changed compute")
	}
	bub, _ := Evaluate(&m, &c, l, Options{Scale: Scale{Bubble: 2}})
	if r := bub.Time.PipelineBubble / base.Time.PipelineBubble; math.Abs(r-2) > 1e-9 {
		t.Errorf("bubble scaled by %v, want 2", r)
	}
	// A single-GPU layout has no communication: compute scales it all.
	c1 := c
	c1.GPUs = 1
	m1 := m
	m1.Layers, m1.Hidden, m1.Heads, m1.FFNHidden, m1.KVHeads, m1.GlobalBatch = 4, 1024, 8, 4096, 8, 8
	l1 := Layout{TP: 1, PP: 1, DP: 1, CP: 1, MicroBatch: 1, VirtualStages: 1, Recompute: RecomputeNone}
	b1, err := Evaluate(&m1, &c1, l1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s1, _ := Evaluate(&m1, &c1, l1, Options{Scale: Scale{Compute: 1.7}})
	if r := s1.Time.Total / b1.Time.Total; math.Abs(r-1.7) > 1e-9 {
		t.Errorf("compute scale 1.7 scaled a communication-free step by %v", r)
	}
}

// Separate factors move the ranking: the same search with communication
// 4× slower prefers less tensor parallelism (one common factor could not).
func TestCommunicationScaleChangesRanking(t *testing.T) {
	r := MegatronTable1[3] // 18B on 256 GPUs
	plain, err := Plan(r.Model(), r.Cluster(), table1Features(), table1Options(r, Scale{}), 1)
	if err != nil {
		t.Fatal(err)
	}
	slow, err := Plan(r.Model(), r.Cluster(), table1Features(), table1Options(r, Scale{Communication: 4}), 1)
	if err != nil {
		t.Fatal(err)
	}
	a, b := plain.Layouts[0], slow.Layouts[0]
	if b.TP >= a.TP {
		t.Errorf("communication 4× slower: best %v, before %v; want less tensor parallelism", b.Layout, a.Layout)
	}
	uni, _ := Plan(r.Model(), r.Cluster(), table1Features(), table1Options(r, Scale{Compute: 4, Communication: 4, Bubble: 1}), 1)
	if uni.Layouts[0].Layout != a.Layout {
		t.Errorf("a common factor changed the choice: %v vs %v", uni.Layouts[0].Layout, a.Layout)
	}
}

// Without sequence parallelism the layer input kept by full recomputation
// is whole on every tensor-parallel rank, and the element-wise kernels run
// on the whole hidden state: more memory, more time.
func TestNoSequenceParallelCostsMemoryAndTime(t *testing.T) {
	m, c := gpt3On(t, 64)
	m, _ = m.Normalize()
	c, _ = c.Normalize()
	l := Layout{TP: 8, PP: 8, DP: 1, CP: 1, MicroBatch: 1, VirtualStages: 1, Recompute: RecomputeFull}
	sp, _ := Evaluate(&m, &c, l, Options{})
	no, _ := Evaluate(&m, &c, l, Options{NoSequenceParallel: true})
	if no.Time.Compute <= sp.Time.Compute {
		t.Errorf("compute without SP %.4g, with %.4g", no.Time.Compute, sp.Time.Compute)
	}
	if no.Memory.Activations <= 4*sp.Memory.Activations {
		t.Errorf("activations without SP %.3g, with %.3g: the kept layer inputs should be ~8× larger", no.Memory.Activations, sp.Memory.Activations)
	}
}
