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
	// matmuls reach. The fit runs into its bound, maxGEMMEfficiency = 0.85
	// (what cuBLAS reaches on large bf16 matmuls on A100): vTrain's models
	// (hidden ≤ 2048) cannot tell the ceiling from gemmHalfWork.
	gemmEfficiencyMax = 0.85
	// gemmHalfWork is the per-GPU matmul size (tokens × hidden / tp) at which
	// matmuls run at half of gemmEfficiencyMax: small micro-batches and wide
	// tensor parallelism leave the tensor cores idle.
	gemmHalfWork = 1.023e6
	// scoreBytesPerElement is HBM traffic per element of the s×s attention
	// scores (scale, mask, softmax, dropout) in one forward-equivalent pass,
	// without fused attention. A separate term for the other memory-bound
	// kernels (layer norms, GeLU, residuals) fitted to zero and was dropped.
	scoreBytesPerElement = 16.05
	// launchSecondsPerLayerPass is host time to launch one layer's kernels in
	// one forward-equivalent pass; the GPU hides it only when its own work
	// per layer is longer.
	launchSecondsPerLayerPass = 0.8365e-3
	// cpuGPUOverlapSharpness is the exponent k of the soft maximum
	// (cpu^k + gpu^k)^(1/k) of host and device time per layer.
	cpuGPUOverlapSharpness = 4.39
	// defaultIntraNodeLatencyUs is the latency of one ring step of an NCCL
	// collective over NVLink, including its launch.
	defaultIntraNodeLatencyUs = 16.39
	// iterationOverheadSeconds is fixed work per iteration: data loading,
	// loss scaling checks, logging, the barrier of the optimizer step.
	iterationOverheadSeconds = 3.79e-3
)

const (
	// defaultInterNodeLatencyUs is one InfiniBand/RoCE hop plus NCCL proxy time.
	defaultInterNodeLatencyUs = 8
	// optimizerBytesPerParam is HBM traffic of a fused Adam step per local
	// parameter: read fp32 gradient, master weight and two moments (16),
	// write them back except the gradient (12), write the 16-bit weight (2)
	// and read the gradient once more for norm clipping (4).
	optimizerBytesPerParam = 34
	// logitBytesPerElement is HBM traffic of the output softmax and
	// cross-entropy per vocabulary logit, forward and backward together.
	logitBytesPerElement = 16
)

// calibration holds the fitted constants so the fit can vary them.
type calibration struct {
	EffMax, HalfWork, ScoreBytes, LaunchS, Sharpness, IterS float64
}

var defaultCalibration = calibration{
	EffMax: gemmEfficiencyMax, HalfWork: gemmHalfWork,
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

	// Per layer per micro-batch on one GPU.
	work := tokens * h / tp
	eff := cal.EffMax * work / (work + cal.HalfWork)
	flops := tokens * (pMat*m.layerMatmulFLOPs() + pAtt*m.layerAttentionFLOPs()) / tp
	var memBytes float64
	if !m.FlashAttention {
		memBytes = pAtt * cal.ScoreBytes * float64(l.MicroBatch) * float64(m.Heads) * s * s / split
	}
	compute := flops/(peak*eff) + memBytes/hbm

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
		tpComm = n * ring(tokens*h*m.Precision.bytes(), l.TP, bw, lat)
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
		exchange := pAtt * steps * (kv/bw + lat)
		attn := tokens * pAtt * m.layerAttentionFLOPs() / tp / (peak * eff)
		cpComm = math.Max(0, exchange-attn)
	}
	gpu := compute + tpComm + cpComm
	cpu := pMat * cal.LaunchS
	k := cal.Sharpness
	layer := math.Pow(math.Pow(cpu, k)+math.Pow(gpu, k), 1/k)
	launch := layer - gpu

	layersPerStage := float64(m.Layers / l.PP)
	// The last stage also runs the output layer and the loss.
	logitElems := tokens * float64(m.Vocab) / tp
	logits := 3*logitElems*2*h/(peak*eff) + logitElems*logitBytesPerElement/hbm
	var p2p float64
	if l.PP > 1 {
		bw, lat := intraBW, intraLat
		if l.TP*l.CP*l.DP*l.PP > c.GPUsPerNode {
			bw, lat = interBW, interLat
		}
		// One send forward and one backward per micro-batch and model chunk,
		// scattered over the tp ranks.
		p2p = 2 * float64(l.VirtualStages) * (tokens*h*m.Precision.bytes()/tp/bw + lat)
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
	pipeline := mbs*stageLast + (sumStages-stageLast)/float64(l.VirtualStages)

	t := Timing{
		Compute:        mbs * (layersPerStage*compute + logits),
		Launch:         mbs * layersPerStage * launch,
		TPComm:         mbs * layersPerStage * tpComm,
		CPComm:         mbs * layersPerStage * cpComm,
		PipelineP2P:    mbs * p2p,
		PipelineBubble: pipeline - mbs*stageLast,
		Overhead:       cal.IterS,
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
		reduce := ring(grads, d, bw, lat)
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
	optParams := local
	if l.ZeRO >= 1 {
		optParams /= float64(d)
	}
	t.Optimizer = optParams * optimizerBytesPerParam / hbm
	t.Total = pipeline + t.DPComm + t.ZeROGather + t.Optimizer + t.Overhead
	return t
}
