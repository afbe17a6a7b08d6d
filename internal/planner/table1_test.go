package planner

import (
	"math"
	"testing"
)

// table1Options is Megatron-LM as of the paper: gradient all-reduce after
// the backward pass, not overlapped with it, and fp16 training with an fp32
// copy of the gradients (20 bytes per parameter in all), and no sequence
// parallelism (it came with Korthikanti et al. 2022).
var table1Options = Options{OverlapGradReduce: false, GradientBytes: 6, NoSequenceParallel: true}

// table1Features is what Megatron-LM offered then: no ZeRO (the distributed
// optimizer came later), no context parallelism, and full recomputation
// (selective recomputation came with Korthikanti et al. 2022). tp, pp, dp,
// micro-batch and interleaving stay free.
func table1Features() Constraints {
	zero := 0
	return Constraints{ZeRO: &zero, CP: 1, Recompute: RecomputeFull}
}

// table1Published evaluates the published layout (tp×pp, full recomputation,
// no ZeRO as in the paper) at its best micro-batch, and at its best
// interleaving when virtualStages is 0.
func table1Published(t *testing.T, r Table1Row, virtualStages int) Evaluation {
	t.Helper()
	cons := table1Features()
	cons.TP, cons.PP, cons.VirtualStages = r.TP, r.PP, virtualStages
	res, err := Plan(r.Model(), r.Cluster(), cons, table1Options, 1)
	if err != nil {
		t.Fatalf("%s: %v", r.Name, err)
	}
	if len(res.Layouts) == 0 {
		t.Fatalf("%s: the published layout tp%d pp%d does not fit: %+v", r.Name, r.TP, r.PP, res.Closest)
	}
	return res.Layouts[0]
}

// The targets are the published layout in the top 3 and the throughput
// within 15% for every row. The model, calibrated on vTrain's single-node
// runs only, reaches 6 of 10 layouts and 9 of 10 throughputs (mean |error|
// 11.1%, worst 76B at +15.5%), all over-predictions: vTrain's node reaches
// 61% of peak on a 2048-wide model, Selene 44-52% on far wider ones in 2021.
// It prefers less tensor parallelism than the paper for 7.5B-39B and 145B:
// Megatron's tensor-parallel all-reduces (no sequence parallelism, not
// overlapped) move the same bytes per GPU whatever tp is while the matmuls
// shrink by 1/tp, so at tp=8 they take ~19% of the 18B model's step against
// ~3% at tp=2, more than the bubble and sends that the extra pipeline stages
// add (interleaved, ~3% and ~2%). For 3.6B it prefers no model
// parallelism at all (tp=1, published tp=2 is its #3), for 7.5B tp=2 (the
// published tp=4 comes 4th among tp×pp). These bounds guard the figures
// reached, so a regression fails.
const (
	table1MinHits   = 6
	table1MinWithin = 9    // throughputs within 15%
	table1MaxError  = 16.0 // percent, any row
	table1MaxMean   = 11.5 // percent, mean |error|
)

// TestMegatronTable1 checks the planner against Table 1 of Narayanan et al.
// (SC'21): the published tp×pp must be among the top 3 layouts the planner
// proposes (searching what Megatron-LM offered then), and the predicted throughput of the published layout within 15%
// of the published teraFLOP/s per GPU. Both throughputs count the FLOPs of
// recomputation (the paper's 96·B·s·l·h² formula).
func TestMegatronTable1(t *testing.T) {
	hits, within := 0, 0
	var sumAbs float64
	for _, r := range MegatronTable1 {
		res, err := Plan(r.Model(), r.Cluster(), table1Features(), table1Options, 3)
		if err != nil {
			t.Fatalf("%s: %v", r.Name, err)
		}
		rank := 0
		for i, e := range res.Layouts {
			if e.TP == r.TP && e.PP == r.PP {
				rank = i + 1
				break
			}
		}
		pub := table1Published(t, r, 0)
		errPct := 100 * (pub.TFLOPSPerGPU - r.TFLOPS) / r.TFLOPS
		sumAbs += math.Abs(errPct)
		if rank > 0 {
			hits++
		}
		if math.Abs(errPct) <= 15 {
			within++
		}
		top := res.Layouts[0]
		t.Logf("%-14s %5d GPUs  published tp%d pp%d %3.0f TFLOP/s | predicted %v %.1f TFLOP/s (%+.1f%%) | planner #1 %v %.1f TFLOP/s, published tp×pp at rank %d",
			r.Name, r.GPUs, r.TP, r.PP, r.TFLOPS, pub.Layout, pub.TFLOPSPerGPU, errPct, top.Layout, top.TFLOPSPerGPU, rank)
		if rank == 0 {
			t.Logf("  miss: published tp%d pp%d is not in the planner's top 3", r.TP, r.PP)
		}
		if math.Abs(errPct) > 15 {
			t.Logf("  miss: throughput %+.1f%% is outside the 15%% target", errPct)
		}
		if math.Abs(errPct) > table1MaxError {
			t.Errorf("%s: predicted %.1f TFLOP/s per GPU, published %.0f (%+.1f%%)", r.Name, pub.TFLOPSPerGPU, r.TFLOPS, errPct)
		}
	}
	t.Logf("top-3 hits %d of %d, throughput within 15%%: %d of %d, mean |error| %.1f%%",
		hits, len(MegatronTable1), within, len(MegatronTable1), sumAbs/float64(len(MegatronTable1)))
	if hits < table1MinHits {
		t.Errorf("published tp×pp in the top 3 for %d of %d models, want at least %d", hits, len(MegatronTable1), table1MinHits)
	}
	if within < table1MinWithin {
		t.Errorf("throughput within 15%% for %d of %d models, want at least %d", within, len(MegatronTable1), table1MinWithin)
	}
	if mean := sumAbs / float64(len(MegatronTable1)); mean > table1MaxMean {
		t.Errorf("mean |throughput error| %.1f%%, want at most %.1f%%", mean, table1MaxMean)
	}
}

// TestMegatronTable1WithoutInterleaving evaluates the published layouts with
// the plain 1F1B schedule (one model chunk per stage). Their predicted
// throughput is then within 15% for all 10 rows, mean |error| 5.9% (11.1%
// with the best interleaving): either the runs behind Table 1 interleaved
// less than the planner's best choice, or the model credits the interleaved
// schedule with more than it gained on Selene in 2021. The planner keeps
// interleaving in its search; this is the evidence on either side.
func TestMegatronTable1WithoutInterleaving(t *testing.T) {
	within := 0
	var sumAbs float64
	for _, r := range MegatronTable1 {
		pub := table1Published(t, r, 1)
		errPct := 100 * (pub.TFLOPSPerGPU - r.TFLOPS) / r.TFLOPS
		sumAbs += math.Abs(errPct)
		if math.Abs(errPct) <= 15 {
			within++
		}
		t.Logf("%-14s %v %.1f TFLOP/s (%+.1f%%)", r.Name, pub.Layout, pub.TFLOPSPerGPU, errPct)
	}
	mean := sumAbs / float64(len(MegatronTable1))
	t.Logf("within 15%%: %d of %d, mean |error| %.1f%%", within, len(MegatronTable1), mean)
	if within < len(MegatronTable1) || mean > 6.5 {
		t.Errorf("without interleaving: %d of %d within 15%%, mean |error| %.1f%%; was 10 of 10, 5.9%%", within, len(MegatronTable1), mean)
	}
}
