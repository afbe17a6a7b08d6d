package planner

import "math"

// Calibrated constants. They were fitted once by Nelder-Mead, minimizing the
// mean |log(predicted/measured)| iteration time over the even-indexed rows of
// vTrain's 1,440 single-node A100 Megatron-DeepSpeed measurements
// (shared/data/vtrain/vtrain_ground_truth_single.csv); the odd rows are held
// out. Rerun the fit with
//
//	ACCELTEL_CALIBRATE=1 go test -trimpath -run TestCalibrate -v ./internal/planner/
//
// and copy the printed values here. Everything else in the time model is
// physics (FLOPs, bytes, bandwidths) with no free parameter.
const (
	// gemmEfficiencyMax is the fraction of peak tensor-core FLOP/s that large
	// matmuls reach.
	gemmEfficiencyMax = 0.8192
	// gemmHalfWork is the per-GPU matmul size (tokens × hidden / tp) at which
	// matmuls run at half of gemmEfficiencyMax: small micro-batches and wide
	// tensor parallelism leave the tensor cores idle.
	gemmHalfWork = 4.866e5
	// gemmSizeExponent is how sharply matmul efficiency saturates with size
	// w: gemmEfficiencyMax·x/(1+x), x = (w/gemmHalfWork)^gemmSizeExponent.
	// With an exponent of 1 (a plain saturation) the ceiling runs into any
	// bound the fit is given and vTrain fits worse (mean |log error| 0.0585
	// against 0.0532), and Megatron-LM's Table 1 is over-predicted most for
	// its largest micro-batches; with the fitted knee, Table 1 is
	// over-predicted by one factor for all of its sizes (table1_test.go).
	gemmSizeExponent = 2.782
	// scoreBytesPerElement is HBM traffic per element of the s×s attention
	// scores (scale, mask, softmax, dropout) in one forward-equivalent pass,
	// without fused attention. Counted from Megatron-LM's kernels it would
	// be about 11.3 with full recomputation (the QK^T product writing the
	// scores, the fused softmax, dropout and its mask, the product with V,
	// and their backwards); the fit lands near it. The other memory-bound
	// kernels (layer norms, GeLU, dropout and residual adds) are counted,
	// not fitted: see hiddenBytesForward.
	scoreBytesPerElement = 11.67
	// launchSecondsPerLayerPass is host time to launch one layer's kernels in
	// one forward-equivalent pass; the GPU hides it only when its own work
	// per layer is longer.
	launchSecondsPerLayerPass = 0.805e-3
	// cpuGPUOverlapSharpness is the exponent k of the soft maximum
	// (cpu^k + gpu^k)^(1/k) of host and device time per layer.
	cpuGPUOverlapSharpness = 2.408
	// defaultIntraNodeLatencyUs is the latency of one ring step of an NCCL
	// collective over NVLink, including its launch.
	defaultIntraNodeLatencyUs = 15.03
	// iterationOverheadSeconds is fixed work per iteration: data loading,
	// loss scaling checks, logging, the barrier of the optimizer step.
	iterationOverheadSeconds = 3.305e-3
)

const (
	// defaultInterNodeLatencyUs is one InfiniBand/RoCE hop plus NCCL proxy time.
	defaultInterNodeLatencyUs = 8
	// optimizerBytesPerParam is HBM traffic of a fused Adam step per local
	// parameter: read fp32 gradient, master weight and two moments (16),
	// write them back except the gradient (12), write the 16-bit weight (2)
	// and read the gradient once more for norm clipping (4).
	optimizerBytesPerParam = 34
	// logitBytesPerElement is HBM traffic of the loss per vocabulary logit,
	// forward and backward together, counted from Megatron-LM's
	// vocab-parallel cross-entropy, which runs unfused in fp32 on the
	// 16-bit logits: forward casts them (read 2, write 4), takes the row
	// maximum (4), subtracts it (8), exponentiates (8), sums (4) and
	// divides into the softmax it keeps (8); backward scales that by the
	// loss gradient (8) and casts back (6). Undercounted, the fit puts the
	// missing time on the attention scores instead.
	logitBytesPerElement = 52

	// HBM traffic of a layer's element-wise kernels per token, in bytes per
	// element of the hidden state (16-bit values, 1-byte dropout masks),
	// counted from the kernels Megatron-LM runs (apex fused layer norm,
	// fused bias-dropout-add, fused bias-GeLU):
	//  - forward: two layer norms read x and write y (2 × 4 bytes) and two
	//    bias-dropout-residual adds read the input and the residual and write
	//    the output and the mask (2 × 7): 22;
	//  - backward: two layer-norm backwards read x and dy and write dx
	//    (2 × 6), two dropout-add backwards read dy and the mask and write dx
	//    (2 × 5) and sum the residual branch's gradient into the other (read
	//    two, write one: 2 × 6): 34.
	// Without sequence parallelism these run on the whole hidden state on
	// every tensor-parallel rank.
	hiddenBytesForward  = 22
	hiddenBytesBackward = 34
	// The bias-GeLU between the MLP matmuls, per FFN element: forward reads
	// and writes (4), backward reads dy and x and writes dx (6). Always split
	// over tensor-parallel ranks.
	ffnBytesForward  = 4
	ffnBytesBackward = 6
)

// calibration holds the fitted constants so the fit can vary them.
type calibration struct {
	EffMax, HalfWork, SizeExponent, ScoreBytes, LaunchS, Sharpness, IterS float64
}

var defaultCalibration = calibration{
	EffMax: gemmEfficiencyMax, HalfWork: gemmHalfWork, SizeExponent: gemmSizeExponent,
	ScoreBytes: scoreBytesPerElement, LaunchS: launchSecondsPerLayerPass, Sharpness: cpuGPUOverlapSharpness,
	IterS: iterationOverheadSeconds,
}

// Timing breaks down one iteration, in seconds, on the slowest pipeline stage.
type Timing struct {
	Compute        float64 `json:"compute_s"`         // matmuls and memory-bound kernels
	Launch         float64 `json:"launch_s"`          // host launch time the GPU could not hide
	TPComm         float64 `json:"tp_comm_s"`         // tensor-parallel all-reduces
	CPComm         float64 `json:"cp_comm_s"`         // context-parallel K/V exchange not hidden by attention
	PipelineBubble float64 `json:"pipeline_bubble_s"` // 1F1B warm-up and cool-down
	PipelineP2P    float64 `json:"pipeline_p2p_s"`    // activations and gradients between stages
	DPComm         float64 `json:"dp_comm_s"`         // exposed gradient reduction (and ZeRO all-gathers)
	DPOverlapped   float64 `json:"dp_overlapped_s"`   // gradient reduction hidden behind backward
	ZeROGather     float64 `json:"zero_gather_s"`     // exposed ZeRO-3 parameter gathers and gradient reduce-scatter
	Optimizer      float64 `json:"optimizer_s"`       // Adam step
	Overhead       float64 `json:"overhead_s"`        // fixed per iteration
	Total          float64 `json:"iteration_s"`       // sum of the exposed parts
}

// Options are framework behaviours that change the time model.
type Options struct {
	// OverlapGradReduce hides the data-parallel gradient reduction behind the
	// backward pass of the last micro-batch (Megatron's --overlap-grad-reduce).
	OverlapGradReduce bool
	// GradientBytes is gradient memory per parameter. 0 means the ZeRO
	// paper's 2 (16-bit gradients); Megatron keeps fp32 main gradients (4 with
	// bf16) and, with fp16, 16-bit gradients plus an fp32 copy (6), which is
	// its documented 18 and 20 bytes per parameter without the distributed
	// optimizer.
	GradientBytes float64
	// NoSequenceParallel is Megatron-LM before sequence parallelism
	// (Korthikanti et al. 2022): layer norms, dropouts and residual adds run
	// on the whole hidden state on every tensor-parallel rank and their
	// activations are kept whole (sbh·(10 + 24/t + 5as/ht) per layer). The
	// zero value shards them over the tensor-parallel ranks.
	NoSequenceParallel bool
	// Scale calibrates the time model per job: separate factors for the
	// compute side, the communication side and the pipeline bubble, so that
	// a job whose communication is slower than predicted moves the ranking
	// towards layouts that communicate less (one common factor would cancel
	// when layouts are ranked). The zero value changes nothing.
	Scale Scale
}

// Scale multiplies parts of the predicted iteration time. A zero or
// negative field means 1.
type Scale struct {
	// Compute scales GPU kernels, host launch time, the output layer, the
	// optimizer step and the fixed per-iteration overhead.
	Compute float64 `json:"compute,omitempty" yaml:"compute,omitempty"`
	// Communication scales tensor- and context-parallel collectives,
	// pipeline sends, the data-parallel gradient reduction and ZeRO gathers
	// (as if the achieved bus bandwidth were 1/Communication of the cluster's
	// figure and the latency Communication times longer).
	Communication float64 `json:"communication,omitempty" yaml:"communication,omitempty"`
	// Bubble scales the pipeline's fill and drain on top of the compute and
	// communication it is made of (schedule imbalance, stragglers between
	// stages).
	Bubble float64 `json:"bubble,omitempty" yaml:"bubble,omitempty"`
}

func orOne(x float64) float64 {
	if x > 0 {
		return x
	}
	return 1
}

// Factors returns the three factors with zero values replaced by 1.
func (s Scale) Factors() (compute, comm, bubble float64) {
	return orOne(s.Compute), orOne(s.Communication), orOne(s.Bubble)
}

// passes is forward-equivalent passes per layer: forward 1, backward 2, plus
// the recomputed forward (matmuls, attention core) where recomputation is on.
func passes(r Recompute) (mat, att float64) {
	switch r {
	case RecomputeFull:
		return 4, 4
	case RecomputeSelective:
		return 3, 4
	}
	return 3, 3
}

// ring is the time of a ring all-reduce (or reduce-scatter + all-gather) of
// bytes over n ranks.
func ring(bytes float64, n int, bwBytes, latencyS float64) float64 {
	if n <= 1 {
		return 0
	}
	f := float64(n)
	return 2*(f-1)/f*bytes/bwBytes + 2*(f-1)*latencyS
}

// timing predicts one iteration of layout l.
func (m *Model) timing(l Layout, c *Cluster, o Options, cal *calibration) Timing {
	g := &c.GPU
	peak := g.PeakTFLOPS * 1e12
	hbm := g.HBMGBs * 1e9
	intraBW, interBW := g.IntraNodeGBs*1e9, g.InterNodeGbps/8*1e9
	intraLat, interLat := c.IntraNodeLatencyUs*1e-6, c.InterNodeLatencyUs*1e-6
	tp, cp := float64(l.TP), float64(l.CP)
	split := tp * cp
	h, s := float64(m.Hidden), float64(m.SeqLen)
	tokens := float64(l.MicroBatch) * s / cp // tokens of one micro-batch on one GPU's sequence shard
	pMat, pAtt := passes(l.Recompute)
	fc, fm, fb := o.Scale.Factors()

	// Per layer per micro-batch on one GPU.
	work := tokens * h / tp
	wk := math.Pow(work/cal.HalfWork, cal.SizeExponent)
	eff := cal.EffMax * wk / (wk + 1)
	flops := tokens * (pMat*m.layerMatmulFLOPs() + pAtt*m.layerAttentionFLOPs()) / tp
	var memBytes float64
	if !m.FlashAttention {
		memBytes = pAtt * cal.ScoreBytes * float64(l.MicroBatch) * float64(m.Heads) * s * s / split
	}
	// Element-wise kernels: forward once more when the layer is recomputed.
	fwd := 1.0
	if l.Recompute == RecomputeFull {
		fwd = 2
	}
	hSplit := split
	if o.NoSequenceParallel {
		hSplit = cp
	}
	ffnMats := 1.0
	if m.GatedMLP {
		ffnMats = 2
	}
	scale := m.Precision.bytes() / 2
	memBytes += tokens * scale * ((fwd*hiddenBytesForward+hiddenBytesBackward)*h/hSplit +
		ffnMats*(fwd*ffnBytesForward+ffnBytesBackward)*float64(m.FFNHidden)/tp)
	compute := fc * (flops/(peak*eff) + memBytes/hbm)

	var tpComm float64
	if l.TP > 1 {
		n := 4.0 // two all-reduces forward and two backward (reduce-scatter/all-gather pairs with sequence parallel)
		if l.Recompute == RecomputeFull {
			n = 6
		}
		bw, lat := intraBW, intraLat
		if l.TP > c.GPUsPerNode {
			bw, lat = interBW, interLat
		}
		tpComm = fm * n * ring(tokens*h*m.Precision.bytes(), l.TP, bw, lat)
	}
	var cpComm float64
	if l.CP > 1 {
		bw, lat := intraBW, intraLat
		if l.TP*l.CP > c.GPUsPerNode {
			bw, lat = interBW, interLat
		}
		// Ring attention passes K and V around the cp ring in every pass that
		// runs attention (backward twice: K, V and their gradients), hidden
		// behind the attention matmuls as far as they last.
		kv := 2 * tokens * m.kvDim() / tp * m.Precision.bytes()
		steps := cp - 1
		exchange := fm * pAtt * steps * (kv/bw + lat)
		attn := fc * tokens * pAtt * m.layerAttentionFLOPs() / tp / (peak * eff)
		cpComm = math.Max(0, exchange-attn)
	}
	gpu := compute + tpComm + cpComm
	cpu := fc * pMat * cal.LaunchS
	k := cal.Sharpness
	layer := math.Pow(math.Pow(cpu, k)+math.Pow(gpu, k), 1/k)
	launch := layer - gpu

	layersPerStage := float64(m.Layers / l.PP)
	// The last stage also runs the output layer and the loss.
	logitElems := tokens * float64(m.Vocab) / tp
	logits := fc * (3*logitElems*2*h/(peak*eff) + logitElems*logitBytesPerElement/hbm)
	var p2p float64
	if l.PP > 1 {
		bw, lat := intraBW, intraLat
		if l.TP*l.CP*l.DP*l.PP > c.GPUsPerNode {
			bw, lat = interBW, interLat
		}
		// One send forward and one backward per micro-batch and model chunk,
		// scattered over the tp ranks (Narayanan et al. 2021, §4.1: each tp
		// rank sends 1/tp of the activation over its own NIC) ...
		act := tokens * h * m.Precision.bytes()
		send := act/tp/bw + lat
		if l.TP > 1 && bw == interBW {
			// ... and gathered back over NVLink on the receiving node.
			send += (tp-1)/tp*act/intraBW + (tp-1)*intraLat
		}
		p2p = fm * 2 * float64(l.VirtualStages) * send
	}
	stageLast := layersPerStage*layer + logits + p2p
	stageFirst := layersPerStage*layer + p2p
	if l.PP == 1 {
		stageFirst = stageLast
	}
	mbs := float64(l.MicroBatches(m))
	sumStages := stageFirst + stageLast + float64(l.PP-2)*stageFirst
	if l.PP == 1 {
		sumStages = stageLast
	}
	pipeline := mbs*stageLast + fb*(sumStages-stageLast)/float64(l.VirtualStages)

	t := Timing{
		Compute:        mbs * (layersPerStage*compute + logits),
		Launch:         mbs * layersPerStage * launch,
		TPComm:         mbs * layersPerStage * tpComm,
		CPComm:         mbs * layersPerStage * cpComm,
		PipelineP2P:    mbs * p2p,
		PipelineBubble: pipeline - mbs*stageLast,
		Overhead:       fc * cal.IterS,
	}

	// Gradient reduction over the dp·cp ranks holding copies of a weight.
	local := layersPerStage*m.LayerParams()/tp + float64(m.Vocab*m.Hidden)/tp
	d := l.DP * l.CP
	if d > 1 {
		bw, lat := intraBW, intraLat
		if l.TP*d > c.GPUsPerNode {
			// Each GPU's NIC carries one ring; group members sharing a node
			// multiply the bandwidth until NVLink is the bottleneck.
			perNode := math.Max(1, float64(c.GPUsPerNode)/split)
			bw, lat = math.Min(intraBW, perNode*interBW), interLat
		}
		grads := local * m.Precision.bytes()
		reduce := fm * ring(grads, d, bw, lat)
		if l.ZeRO == 3 {
			// Weights are gathered for every forward, recomputed forward and
			// backward of every micro-batch (half an all-reduce each), the
			// gradients reduce-scattered (the other half). Prefetching hides
			// all of it behind compute, as far as compute lasts.
			comm := (mbs*(pMat-1) + 1) * reduce / 2
			t.DPOverlapped = math.Min(comm, t.Compute)
			t.ZeROGather = comm - t.DPOverlapped
		} else {
			t.DPComm = reduce
			if o.OverlapGradReduce {
				backward := stageLast * 2 / pMat
				t.DPOverlapped = math.Min(t.DPComm, backward)
				t.DPComm -= t.DPOverlapped
			}
		}
	}
	// With a tied embedding split over pipeline stages, the first and the
	// last stage all-reduce its gradient after the backward pass
	// (Megatron's embedding group), over the network when they sit on
	// different nodes; nothing overlaps it.
	if l.PP > 1 && !m.UntiedEmbeddings {
		bw, lat := intraBW, intraLat
		if l.TP*l.CP*l.DP*l.PP > c.GPUsPerNode {
			bw, lat = interBW, interLat
		}
		t.DPComm += fm * ring(float64(m.Vocab*m.Hidden)/tp*m.Precision.bytes(), 2, bw, lat)
	}
	optParams := local
	if l.ZeRO >= 1 {
		optParams /= float64(d)
	}
	t.Optimizer = fc * optParams * optimizerBytesPerParam / hbm
	t.Total = pipeline + t.DPComm + t.ZeROGather + t.Optimizer + t.Overhead
	return t
}

// Communication is the exposed communication on the critical path:
// tensor- and context-parallel collectives, pipeline sends, the exposed
// data-parallel reduction and ZeRO gathers (the bubble's share excluded).
func (t *Timing) Communication() float64 {
	return t.TPComm + t.CPComm + t.PipelineP2P + t.DPComm + t.ZeROGather
}
