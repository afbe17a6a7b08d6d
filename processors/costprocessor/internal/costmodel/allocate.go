package costmodel

import "math"

// LineKind says what a share of a GPU's cost paid for.
type LineKind uint8

// The kinds of line; every nano-dollar of a GPU's cost lands in one of them.
const (
	// Allocated is time held by a pod and used.
	Allocated LineKind = iota
	// IdleUnderused is time held by a pod while its unit's utilization was
	// below the threshold; the line still names the pod.
	IdleUnderused
	// IdleUnallocated is time nobody held: a GPU without a pod, MIG
	// capacity not partitioned, time-slicing replicas nobody requested.
	IdleUnallocated
)

// Holder is a pod holding a unit. Use is its measured share of the unit's
// time (per-process SM utilization summed over its processes, 0..1);
// HasUse says whether the receiver measured it.
type Holder struct {
	Use    float64
	HasUse bool
}

// Unit is a piece of a GPU that Kubernetes hands out: the whole GPU, or one
// MIG slice.
type Unit struct {
	// Weight is the unit's share of the GPU's cost: 1 for a whole GPU,
	// compute slices over the GPU's total for a MIG slice.
	Weight float64
	// Util is the unit's utilization (0..1) when HasUtil.
	Util    float64
	HasUtil bool
	// Replicas is the number of time-slicing replicas the unit is
	// advertised as; 0 means one per holder (nothing left unrequested).
	Replicas int
	Holders  []Holder
}

// Line is one share of a GPU's cost of one interval. Unit is -1 for MIG
// capacity no slice covers; Holder is -1 for IdleUnallocated lines.
type Line struct {
	Unit, Holder int
	Kind         LineKind
	Cost, Energy Nanos
}

// Allocate splits a GPU's cost and energy cost of one interval between its
// units' holders and idle time.
//
// Within a unit each holder is charged OpenCost's max(request, usage): the
// request is 1/replicas of the unit, the usage its measured share. If the
// charges add up to more than the unit they are scaled down to fit (the
// unit is fully used and nothing is idle); if they add up to less, the rest
// is idle, unallocated (OpenCost's idle = asset cost - workload cost). A
// unit whose utilization is below threshold makes its holders' charges
// IdleUnderused. Utilization unknown (no hw.gpu.utilization and no
// per-process use) counts as used, so a held GPU is never called idle
// without evidence.
//
// The parts add up to cost and to energy exactly (see Split).
func Allocate(cost, energy Nanos, units []Unit, threshold float64) []Line {
	lines := make([]Line, 0, 4)
	fracs := make([]float64, 0, 4)
	var sumW float64
	for _, u := range units {
		if u.Weight > 0 {
			sumW += u.Weight
		}
	}
	scale := 1.0
	if sumW > 1 {
		scale = 1 / sumW
	}
	for ui, u := range units {
		w := u.Weight * scale
		if !(w > 0) {
			continue
		}
		if len(u.Holders) == 0 {
			lines = append(lines, Line{Unit: ui, Holder: -1, Kind: IdleUnallocated})
			fracs = append(fracs, w)
			continue
		}
		repl := u.Replicas
		if repl < len(u.Holders) {
			repl = len(u.Holders)
		}
		req := 1 / float64(repl)
		charges := make([]float64, len(u.Holders))
		var sumC, sumUse float64
		measured := false
		for hi, h := range u.Holders {
			use := 0.0
			if h.HasUse && h.Use > 0 && !math.IsInf(h.Use, 0) {
				use = math.Min(h.Use, 1)
				measured = true
			}
			sumUse += use
			charges[hi] = math.Max(req, use)
			sumC += charges[hi]
		}
		if sumC > 1 {
			for hi := range charges {
				charges[hi] /= sumC
			}
			sumC = 1
		}
		kind := Allocated
		util, known := u.Util, u.HasUtil
		if !known && measured {
			util, known = sumUse, true
		}
		if known && util < threshold {
			kind = IdleUnderused
		}
		for hi, c := range charges {
			lines = append(lines, Line{Unit: ui, Holder: hi, Kind: kind})
			fracs = append(fracs, w*c)
		}
		if rest := 1 - sumC; rest > 1e-12 {
			lines = append(lines, Line{Unit: ui, Holder: -1, Kind: IdleUnallocated})
			fracs = append(fracs, w*rest)
		}
	}
	// Capacity no unit covers (a MIG GPU not fully partitioned, or a GPU
	// with no unit at all) is idle and unallocated. It is always present as
	// the fallback of Split, so a GPU whose units weigh nothing still
	// accounts for its whole cost.
	rest := 1 - sumW*scale
	if rest < 1e-12 {
		rest = 0
	}
	lines = append(lines, Line{Unit: -1, Holder: -1, Kind: IdleUnallocated})
	fracs = append(fracs, rest)
	fallback := len(lines) - 1
	costs := Split(cost, fracs, fallback)
	energies := Split(energy, fracs, fallback)
	out := lines[:0]
	for i := range lines {
		lines[i].Cost, lines[i].Energy = costs[i], energies[i]
		if fracs[i] > 0 || costs[i] != 0 || energies[i] != 0 {
			out = append(out, lines[i])
		}
	}
	return out
}
