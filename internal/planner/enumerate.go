package planner

import (
	"errors"
	"fmt"
	"math"
)

// Constraints fix dimensions of the layout; a zero value leaves one free.
type Constraints struct {
	TP, PP, DP, CP int
	ZeRO           *int      // nil: try stages 0-3
	Recompute      Recompute // "": try none, selective and full
	MicroBatch     int
	VirtualStages  int
	// MaxMicroBatch bounds the free micro-batch size (default 16): larger
	// ones rarely pay and only multiply the search.
	MaxMicroBatch int
	// AllowCrossNodeTP lets tensor parallelism span nodes.
	AllowCrossNodeTP bool
	// AllVariants ranks every micro-batch and interleaving of a layout on
	// its own. By default a layout (tp, pp, dp, cp, ZeRO, recomputation)
	// is ranked once, at its best micro-batch and interleaving, so the
	// alternatives shown are other ways to split the model, not the same
	// split with a micro-batch of 4 instead of 8.
	AllVariants bool
}

// Evaluation is one layout with its predictions.
type Evaluation struct {
	Layout
	Memory           Memory  `json:"memory"`
	Time             Timing  `json:"time"`
	MemoryCapacity   float64 `json:"memory_capacity_bytes"`
	Fits             bool    `json:"fits"`
	TFLOPSPerGPU     float64 `json:"tflops_per_gpu"` // counting recomputation, as Megatron reports
	MFU              float64 `json:"mfu"`            // model FLOPs (no recomputation) over peak
	CostPerStep      float64 `json:"cost_per_step,omitempty"`
	TokensPerSecond  float64 `json:"tokens_per_second"`
	IterationSeconds float64 `json:"iteration_s"`
}

// Result is the planner's answer.
type Result struct {
	Model   Model
	Cluster Cluster
	// Layouts that fit in memory, best first (at most the requested top).
	Layouts []Evaluation
	// Closest holds, when nothing fits, the layouts that come nearest.
	Closest []Evaluation
	// Considered counts valid layouts evaluated; Fitting those that fit.
	Considered, Fitting int
	// RankedByCost is true when a GPU-hour price orders the layouts.
	RankedByCost bool
}

// ErrNoLayout is returned when constraints leave no valid layout at all.
var ErrNoLayout = errors.New("no valid layout")

// Evaluate predicts one layout of a normalized model on a normalized
// cluster. It returns the error of Layout.Check (tensor parallelism across
// nodes allowed, since the layout is given) when the layout is invalid: a
// zero micro-batch or degree would divide by zero, and a batch that does
// not divide into micro-batches has no meaningful schedule.
func Evaluate(m *Model, c *Cluster, l Layout, o Options) (Evaluation, error) {
	if c.GPUsPerNode <= 0 {
		return Evaluation{Layout: l}, errors.New("cluster is not normalized: gpus per node must be > 0")
	}
	if m.Layers <= 0 || m.Heads <= 0 || m.Hidden <= 0 || m.FFNHidden <= 0 || m.KVHeads <= 0 || m.GlobalBatch <= 0 || m.SeqLen <= 0 {
		return Evaluation{Layout: l}, errors.New("model is not normalized: layers, hidden, heads, ffn hidden, kv heads, sequence and batch must be > 0")
	}
	if err := l.Check(m, c, true); err != nil {
		return Evaluation{Layout: l}, err
	}
	return evaluate(m, c, l, o, &defaultCalibration), nil
}

func evaluate(m *Model, c *Cluster, l Layout, o Options, cal *calibration) Evaluation {
	e := Evaluation{Layout: l, Memory: m.memory(l, c, o), Time: m.timing(l, c, o, cal)}
	e.MemoryCapacity = c.GPU.MemoryGiB * gib
	e.Fits = e.Memory.Total <= e.MemoryCapacity
	e.IterationSeconds = e.Time.Total
	n := float64(c.GPUs)
	e.TFLOPSPerGPU = m.IterationFLOPs(l.Recompute, true) / e.Time.Total / n / 1e12
	e.MFU = m.IterationFLOPs(l.Recompute, false) / e.Time.Total / n / (c.GPU.PeakTFLOPS * 1e12)
	e.TokensPerSecond = float64(m.GlobalBatch*m.SeqLen) / e.Time.Total
	if c.PricePerGPUHour > 0 {
		e.CostPerStep = e.Time.Total / 3600 * n * c.PricePerGPUHour
	}
	return e
}

// choices is the values one dimension may take: the fixed one, or every
// divisor of n up to limit, ascending. Trial division up to √n (and no
// further than limit): a loop to n would not end for a large n.
func choices(buf []int, fixed, n, limit int) []int {
	buf = buf[:0]
	if fixed > 0 {
		return append(buf, fixed)
	}
	d := 1
	for ; d <= n/d; d++ {
		if d > limit {
			return buf // the divisors above √n are above limit too
		}
		if n%d == 0 {
			buf = append(buf, d)
		}
	}
	// The divisors above √n, ascending, are n/d for d descending.
	root := d - 1
	for d := root; d >= 1 && n/d <= limit; d-- {
		if q := n / d; q > root && n%d == 0 {
			buf = append(buf, q)
		}
	}
	return buf
}

// rankKey orders evaluations: by the primary key (time or cost), then, on a
// tie (within tieTolerance, relative), by more memory headroom, so that of
// ZeRO stages predicted equally fast the one leaving most memory free wins.
type rankKey struct{ primary, headroom float64 }

// tieTolerance is the relative difference of two predicted times (or costs)
// below which they are a tie: well below the model's own error, above float
// rounding of sums taken in a different order.
const tieTolerance = 1e-9

func (a rankKey) less(b rankKey) bool {
	if d := a.primary - b.primary; math.Abs(d) > tieTolerance*math.Max(math.Abs(a.primary), math.Abs(b.primary)) {
		return d < 0
	}
	return a.headroom > b.headroom
}

// topK keeps the k best evaluations by key, smallest first, without
// allocating per candidate. With distinct set, it keeps at most one
// evaluation per variant group (the layout less micro-batch and
// interleaving): a later variant of a group replaces the kept one when it
// is better. A group's best variant is never lost: the k-th key only
// improves, so a variant evicted once would be evicted again.
type topK struct {
	k        int
	distinct bool
	items    []Evaluation
	keys     []rankKey
}

func (t *topK) add(e *Evaluation, key rankKey) {
	// Not better than the k-th: not in the top k, whatever its group.
	if len(t.items) == t.k && !key.less(t.keys[len(t.keys)-1]) {
		return
	}
	i := len(t.items)
	if t.distinct {
		g := e.VariantGroup()
		for j := range t.items {
			if t.items[j].VariantGroup() != g {
				continue
			}
			if !key.less(t.keys[j]) {
				return
			}
			// Drop it and insert the new one from the slot it frees.
			copy(t.items[j:], t.items[j+1:])
			copy(t.keys[j:], t.keys[j+1:])
			i = len(t.items) - 1
			break
		}
	}
	if i == len(t.items) {
		if i < t.k {
			t.items = append(t.items, Evaluation{})
			t.keys = append(t.keys, rankKey{})
		} else {
			i--
		}
	}
	for ; i > 0 && key.less(t.keys[i-1]); i-- {
		t.items[i], t.keys[i] = t.items[i-1], t.keys[i-1]
	}
	t.items[i], t.keys[i] = *e, key
}

// Plan enumerates every valid layout of m on c that respects cons, keeps the
// top ones that fit in memory, and ranks them by iteration time (or cost per
// step when c has a price). Closest is filled when none fits.
func Plan(m Model, c Cluster, cons Constraints, o Options, top int) (*Result, error) {
	m, err := m.Normalize()
	if err != nil {
		return nil, err
	}
	c, err = c.Normalize()
	if err != nil {
		return nil, err
	}
	if top <= 0 {
		top = 5
	}
	fixed := 1
	for _, d := range []struct {
		name string
		v    int
	}{{"tp", cons.TP}, {"pp", cons.PP}, {"dp", cons.DP}, {"cp", cons.CP}} {
		if d.v < 0 {
			return nil, fmt.Errorf("%w: %s %d must be >= 1", ErrNoLayout, d.name, d.v)
		}
		if d.v > 0 {
			fixed *= d.v
			if c.GPUs%fixed != 0 {
				return nil, fmt.Errorf("%w: %s %d: the fixed degrees (product %d) do not divide the %d GPUs", ErrNoLayout, d.name, d.v, fixed, c.GPUs)
			}
		}
	}
	maxMB := cons.MaxMicroBatch
	if maxMB <= 0 {
		maxMB = 16
	}
	recomputes := []Recompute{RecomputeNone, RecomputeSelective, RecomputeFull}
	if cons.Recompute != "" {
		recomputes = []Recompute{cons.Recompute}
	}
	best := topK{k: top, distinct: !cons.AllVariants}
	closest := topK{k: 3}
	p := &Result{Model: m, Cluster: c, RankedByCost: c.PricePerGPUHour > 0}
	// The first invalid layout met explains an empty result.
	var firstInvalid Layout
	tpLimit := c.GPUsPerNode
	if cons.AllowCrossNodeTP {
		tpLimit = c.GPUs
	}
	// One buffer per loop level, reused, so the search does not allocate.
	tps := choices(nil, cons.TP, c.GPUs, tpLimit)
	var cps, pps, mbs, vs []int
	for _, tp := range tps {
		cps = choices(cps, cons.CP, max(1, c.GPUs/tp), c.GPUs)
		for _, cp := range cps {
			pps = choices(pps, cons.PP, max(1, c.GPUs/(tp*cp)), m.Layers)
			for _, pp := range pps {
				if c.GPUs%(tp*cp*pp) != 0 {
					if firstInvalid.TP == 0 {
						firstInvalid = Layout{TP: tp, PP: pp, DP: max(1, c.GPUs/(tp*cp*pp)), CP: cp, MicroBatch: 1, VirtualStages: 1, Recompute: RecomputeFull}
					}
					continue
				}
				dp := c.GPUs / (tp * cp * pp)
				if cons.DP > 0 && cons.DP != dp {
					if firstInvalid.TP == 0 {
						firstInvalid = Layout{TP: tp, PP: pp, DP: cons.DP, CP: cp, MicroBatch: 1, VirtualStages: 1, Recompute: RecomputeFull}
					}
					continue
				}
				mbs = choices(mbs, cons.MicroBatch, max(m.GlobalBatch/dp, 1), maxMB)
				for _, mb := range mbs {
					vLimit := 1
					if pp > 1 {
						vLimit = m.Layers / pp
					}
					vs = choices(vs, cons.VirtualStages, m.Layers/pp, vLimit)
					for _, v := range vs {
						for zero := 0; zero <= 3; zero++ {
							if cons.ZeRO != nil && *cons.ZeRO != zero {
								continue
							}
							// Without data parallelism every stage is the same.
							if cons.ZeRO == nil && zero > 0 && dp*cp == 1 {
								continue
							}
							for _, r := range recomputes {
								l := Layout{TP: tp, PP: pp, DP: dp, CP: cp, ZeRO: zero, Recompute: r, MicroBatch: mb, VirtualStages: v}
								if l.problem(&m, &c, cons.AllowCrossNodeTP) != ok {
									if firstInvalid.TP == 0 {
										firstInvalid = l
									}
									continue
								}
								p.Considered++
								e := evaluate(&m, &c, l, o, &defaultCalibration)
								if e.Fits {
									p.Fitting++
									key := rankKey{e.Time.Total, e.MemoryCapacity - e.Memory.Total}
									if p.RankedByCost {
										key.primary = e.CostPerStep
									}
									best.add(&e, key)
								} else if p.Fitting == 0 {
									closest.add(&e, rankKey{e.Memory.Total / e.MemoryCapacity, -e.Time.Total})
								}
							}
						}
					}
				}
			}
		}
	}
	if p.Considered == 0 {
		if firstInvalid.TP != 0 {
			return nil, fmt.Errorf("%w: %w", ErrNoLayout, firstInvalid.Check(&m, &c, cons.AllowCrossNodeTP))
		}
		return nil, fmt.Errorf("%w: the constraints leave no tp·pp·dp·cp = %d", ErrNoLayout, c.GPUs)
	}
	p.Layouts = best.items
	if p.Fitting == 0 {
		p.Closest = closest.items
	}
	return p, nil
}

// gibs converts bytes to GiB.
func gibs(b float64) float64 { return b / gib }

// relative is (a-b)/b, or +Inf when b is 0.
func relative(a, b float64) float64 {
	if b == 0 {
		return math.Inf(1)
	}
	return (a - b) / b
}
