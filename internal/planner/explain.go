package planner

import (
	"fmt"
	"strings"
)

// component is one named part of an iteration's time.
type component struct {
	name string // in the breakdown
	more string // why a layout that spends more here loses
	get  func(*Timing) float64
}

var components = []component{
	{"compute", "more compute (smaller matmuls or more recomputation)", func(t *Timing) float64 { return t.Compute }},
	{"launch", "host-bound kernel launches", func(t *Timing) float64 { return t.Launch }},
	{"tensor-parallel comm", "more tensor-parallel communication", func(t *Timing) float64 { return t.TPComm }},
	{"context-parallel comm", "more context-parallel communication", func(t *Timing) float64 { return t.CPComm }},
	{"pipeline bubble", "larger pipeline bubble", func(t *Timing) float64 { return t.PipelineBubble }},
	{"pipeline p2p", "more pipeline sends", func(t *Timing) float64 { return t.PipelineP2P }},
	{"data-parallel comm", "more exposed data-parallel gradient reduction", func(t *Timing) float64 { return t.DPComm }},
	{"zero-3 gathers", "exposed ZeRO-3 gathers and reductions", func(t *Timing) float64 { return t.ZeROGather }},
	{"optimizer", "slower optimizer step (less sharded)", func(t *Timing) float64 { return t.Optimizer }},
	{"overhead", "fixed overhead", func(t *Timing) float64 { return t.Overhead }},
}

// WhyLoses says how much slower (or costlier) alt is than best and which
// part of the iteration accounts for most of the difference.
func WhyLoses(best, alt *Evaluation, byCost bool) string {
	what, a, b := "time", alt.Time.Total, best.Time.Total
	if byCost {
		what, a, b = "cost", alt.CostPerStep, best.CostPerStep
	}
	var worst component
	var worstDelta float64
	for _, c := range components {
		if d := c.get(&alt.Time) - c.get(&best.Time); d > worstDelta {
			worst, worstDelta = c, d
		}
	}
	reason := "about the same"
	if worstDelta > 0 {
		reason = worst.more
		if worst.name == "compute" {
			switch {
			case alt.Recompute != best.Recompute:
				reason = fmt.Sprintf("more compute (%s recomputation instead of %s)", alt.Recompute, best.Recompute)
			case alt.TP != best.TP || alt.MicroBatch != best.MicroBatch:
				reason = "more compute (smaller matmuls per GPU)"
			}
		}
	}
	return fmt.Sprintf("%+.0f%% %s: %s", 100*relative(a, b), what, reason)
}

// MemoryBreakdown lists the memory of e's most loaded GPU.
func (e *Evaluation) MemoryBreakdown() string {
	m := &e.Memory
	parts := []struct {
		name string
		v    float64
	}{
		{"weights", m.Weights}, {"gradients", m.Gradients}, {"optimizer", m.Optimizer},
		{"activations", m.Activations}, {"embedding/output", m.Embedding}, {"comm buffers", m.CommBuffers},
		{"zero-3 gather", m.ZeROGather}, {"reserved", m.Reserved},
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%.1f of %.0f GiB:", gibs(m.Total), gibs(e.MemoryCapacity))
	for _, p := range parts {
		if p.v > 0 {
			fmt.Fprintf(&b, " %s %.1f,", p.name, gibs(p.v))
		}
	}
	return strings.TrimSuffix(b.String(), ",")
}

// TimeBreakdown lists the parts of e's iteration time.
func (e *Evaluation) TimeBreakdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%.1f ms:", 1e3*e.Time.Total)
	for _, c := range components {
		if v := c.get(&e.Time); v >= 0.0005*e.Time.Total {
			fmt.Fprintf(&b, " %s %.1f (%.0f%%),", c.name, 1e3*v, 100*v/e.Time.Total)
		}
	}
	s := strings.TrimSuffix(b.String(), ",")
	if e.Time.DPOverlapped > 0 {
		s += fmt.Sprintf("; %.1f ms of data-parallel communication hidden behind compute", 1e3*e.Time.DPOverlapped)
	}
	return s
}

// Explain describes the best layout and why the next ones lose.
func (r *Result) Explain() []string {
	if len(r.Layouts) == 0 {
		lines := []string{fmt.Sprintf("none of %d valid layouts fits in %.0f GiB per GPU; the closest:",
			r.Considered, r.Cluster.GPU.MemoryGiB)}
		for i := range r.Closest {
			e := &r.Closest[i]
			lines = append(lines, fmt.Sprintf("  %v needs %.0f%% of memory: %s", e.Layout,
				100*e.Memory.Total/e.MemoryCapacity, e.MemoryBreakdown()))
		}
		return lines
	}
	best := &r.Layouts[0]
	lines := []string{
		fmt.Sprintf("best: %v (%d of %d valid layouts fit)", best.Layout, r.Fitting, r.Considered),
		"  memory per GPU " + best.MemoryBreakdown(),
		"  iteration " + best.TimeBreakdown(),
	}
	for i := 1; i < len(r.Layouts); i++ {
		e := &r.Layouts[i]
		lines = append(lines, fmt.Sprintf("#%d %v: %s", i+1, e.Layout, WhyLoses(best, e, r.RankedByCost)))
	}
	return lines
}
