package planner

import "math"

const gib = 1 << 30

// reservedBytes is memory no tensor of the model can use: the CUDA context,
// NCCL's internal buffers and the caching allocator's fragmentation, which
// together take 1.5-3 GiB on the GPUs here.
const reservedBytes = 2 * gib

// ncclBucketParams is the gradient bucket size of Megatron's DDP (40M
// elements); a second bucket is in flight while one is reduced.
const ncclBucketParams = 40e6

// Memory is the memory of the most loaded GPU, in bytes.
type Memory struct {
	Weights     float64 `json:"weights_bytes"`
	Gradients   float64 `json:"gradients_bytes"`
	Optimizer   float64 `json:"optimizer_bytes"`
	Activations float64 `json:"activations_bytes"`
	Embedding   float64 `json:"embedding_bytes"` // embedding/output-layer states and logits
	CommBuffers float64 `json:"comm_buffers_bytes"`
	ZeROGather  float64 `json:"zero_gather_bytes"`
	Reserved    float64 `json:"reserved_bytes"`
	Total       float64 `json:"total_bytes"`
}

// stateBytes is bytes per parameter of (weights, gradients, optimizer) under
// mixed-precision Adam: 16-bit weights and gradients, fp32 master weights and
// two moments (the ZeRO paper's 2+2+12). Pure fp32 training needs no master copy.
func stateBytes(p Precision) (w, g, o float64) {
	if p == FP32 {
		return 4, 4, 8
	}
	return 2, 2, 12
}

// ZeROModelStateBytes is the per-GPU model-state memory of Rajbhandari et al.
// (2020), Figure 1: params·(2+2+12) with the optimizer (stage ≥1), gradients
// (≥2) and weights (3) partitioned over dp ranks.
func ZeROModelStateBytes(params float64, dp, stage int, p Precision) float64 {
	w, g, o := stateBytes(p)
	n := float64(dp)
	if stage >= 1 {
		o /= n
	}
	if stage >= 2 {
		g /= n
	}
	if stage >= 3 {
		w /= n
	}
	return params * (w + g + o)
}

// DeepSpeedZeRO2Bytes is DeepSpeed's estimate_zero2_model_states_mem_needs
// without offload: 16-bit weights and a full 16-bit gradient buffer on every
// GPU, fp32 master weights, moments and gradient partition over all GPUs.
func DeepSpeedZeRO2Bytes(params int64, gpus int) int64 {
	return 4*params + int64(16*float64(params)/float64(gpus))
}

// DeepSpeedZeRO3Bytes is DeepSpeed's estimate_zero3_model_states_mem_needs
// without offload: the largest layer gathered (16-bit weights and gradients)
// plus 18 bytes per parameter partitioned over all GPUs.
func DeepSpeedZeRO3Bytes(params, largestLayerParams int64, gpus int) int64 {
	return 4*largestLayerParams + int64(18*float64(params)/float64(gpus))
}

// layerActivationBytes is one layer's stored activations for one micro-batch,
// before any tensor/context split, per Korthikanti et al. (2022) Eq. 1:
// sbh·(34 + 5as/h) bytes for a GPT layer in 16-bit, generalized to GQA, any
// FFN width and gated MLPs. scores is the 5as²b part alone.
func (m *Model) layerActivationBytes(b int) (total, scores float64) {
	s, h, f := float64(m.SeqLen), float64(m.Hidden), float64(m.FFNHidden)
	sb := s * float64(b)
	attn := sb * (7*h + 4*m.kvDim()) // QKV input, Q, K, V, projection input, dropout mask
	mlp := sb * (3*h + 4*f)          // input, GeLU input, second-matmul input, dropout mask
	if m.GatedMLP {
		mlp = sb * (3*h + 6*f)
	}
	ln := 4 * sb * h
	if !m.FlashAttention {
		scores = 5 * float64(m.Heads) * s * sb
	}
	scale := m.Precision.bytes() / 2
	return (attn + mlp + ln + scores) * scale, scores * scale
}

// memory returns the memory of the most loaded pipeline stage.
func (m *Model) memory(l Layout, c *Cluster, opt Options) Memory {
	split := float64(l.TP * l.CP) // sequence parallel shards activations over tp, context parallel over cp
	act, scores := m.layerActivationBytes(l.MicroBatch)
	var perLayer float64 // bytes per layer per in-flight micro-batch
	working := 0.0       // one layer's worth needed while recomputing
	// Without sequence parallelism the layer-norm inputs, the inputs of
	// the first matmuls of attention and MLP and the two dropout masks
	// (Korthikanti et al.'s 10·sbh) are whole on every tensor-parallel rank,
	// and so is the layer input kept by full recomputation.
	sbh := float64(m.SeqLen*l.MicroBatch*m.Hidden) * m.Precision.bytes() / 2
	whole, hSplit := 0.0, split
	if opt.NoSequenceParallel {
		whole, hSplit = 10*sbh, float64(l.CP)
	}
	switch l.Recompute {
	case RecomputeNone:
		perLayer = whole/float64(l.CP) + (act-whole)/split
	case RecomputeSelective:
		perLayer = whole/float64(l.CP) + (act-whole-scores)/split
	case RecomputeFull:
		perLayer = 2 * sbh / hSplit
		working = whole/float64(l.CP) + (act-whole)/split
	}
	mbs := l.MicroBatches(m)
	layersPerStage := float64(m.Layers / l.PP)
	w, g, o := stateBytes(m.Precision)
	if opt.GradientBytes > 0 {
		g = opt.GradientBytes
	}
	d := float64(l.DP * l.CP) // ZeRO and gradient reduction span the dp·cp ranks
	if l.ZeRO >= 1 {
		o /= d
	}
	if l.ZeRO >= 2 {
		g /= d
	}
	if l.ZeRO >= 3 {
		w /= d
	}
	vocabParams := float64(m.Vocab*m.Hidden) / float64(l.TP)
	tokenBytes := float64(m.SeqLen*l.MicroBatch) / split

	var best Memory
	for _, stage := range distinctStages(l.PP) {
		inflight := math.Min(float64(l.PP-stage), float64(mbs))
		if l.VirtualStages > 1 {
			inflight *= 1 + float64(l.PP-1)/float64(l.PP*l.VirtualStages)
		}
		layerParams := layersPerStage * m.LayerParams() / float64(l.TP)
		var embParams, embAct float64
		if stage == 0 {
			embParams += vocabParams
			embAct += inflight * tokenBytes * float64(m.Hidden) // embedding dropout mask
		}
		if stage == l.PP-1 {
			if m.UntiedEmbeddings || l.PP > 1 {
				embParams += vocabParams // output layer (a tied copy when pp > 1)
			}
			embAct += 4 * tokenBytes * float64(m.Vocab) // 16-bit logits and fp32 softmax of one micro-batch
		}
		mem := Memory{
			Weights:     layerParams * w,
			Gradients:   layerParams * g,
			Optimizer:   layerParams * o,
			Activations: inflight*layersPerStage*perLayer + working,
			Embedding:   embParams*(w+g+o) + embAct,
			Reserved:    reservedBytes,
		}
		local := layerParams + embParams
		mem.CommBuffers = 2 * math.Min(local, ncclBucketParams) * 4 // two reduce buckets of fp32 gradients
		if l.TP > 1 {
			mem.CommBuffers += 2 * tokenBytes * float64(m.Hidden) * m.Precision.bytes()
		}
		if l.ZeRO == 3 {
			mem.ZeROGather = 4 * math.Max(m.LayerParams(), float64(m.Vocab*m.Hidden)) / float64(l.TP)
		}
		mem.Total = mem.Weights + mem.Gradients + mem.Optimizer + mem.Activations + mem.Embedding +
			mem.CommBuffers + mem.ZeROGather + mem.Reserved
		if mem.Total > best.Total {
			best = mem
		}
	}
	return best
}

// distinctStages lists the stages whose memory can differ: the first (most
// micro-batches in flight, embedding) and the last (output layer, logits).
func distinctStages(pp int) []int {
	if pp == 1 {
		return []int{0}
	}
	return []int{0, pp - 1}
}
