// Package planner chooses a parallel layout (tensor, pipeline, data and context
// parallel degrees, ZeRO stage, activation recomputation, micro-batch size and
// virtual pipeline stages) for training a decoder-only transformer on a GPU
// cluster. It predicts memory per GPU and iteration time from first principles
// (Korthikanti et al. 2022 for activations, Narayanan et al. 2021 for FLOPs
// and the pipeline schedule, Rajbhandari et al. 2020 for ZeRO) plus a handful
// of constants calibrated on measured Megatron runs (see timing.go).
package planner

import (
	"errors"
	"fmt"
	"math"
)

// Precision is the training precision of weights and activations.
type Precision string

const (
	BF16 Precision = "bf16"
	FP16 Precision = "fp16"
	FP32 Precision = "fp32"
)

// bytes is the size of one weight or activation element.
func (p Precision) bytes() float64 {
	if p == FP32 {
		return 4
	}
	return 2
}

// Model describes a decoder-only transformer and its training batch.
// Either the shape (Layers, Hidden, Heads) or Params must be given; with only
// Params, Normalize derives a GPT-like shape.
type Model struct {
	Name        string    `json:"name,omitempty" yaml:"name,omitempty"`
	Params      float64   `json:"params,omitempty" yaml:"params,omitempty"`
	Layers      int       `json:"layers,omitempty" yaml:"layers,omitempty"`
	Hidden      int       `json:"hidden,omitempty" yaml:"hidden,omitempty"`
	Heads       int       `json:"heads,omitempty" yaml:"heads,omitempty"`
	KVHeads     int       `json:"kv_heads,omitempty" yaml:"kv_heads,omitempty"`     // grouped-query attention; 0 means Heads
	FFNHidden   int       `json:"ffn_hidden,omitempty" yaml:"ffn_hidden,omitempty"` // 0 means 4*Hidden
	GatedMLP    bool      `json:"gated_mlp,omitempty" yaml:"gated_mlp,omitempty"`   // SwiGLU: three FFN matrices instead of two
	Vocab       int       `json:"vocab,omitempty" yaml:"vocab,omitempty"`
	SeqLen      int       `json:"seq_len,omitempty" yaml:"seq_len,omitempty"`
	GlobalBatch int       `json:"global_batch,omitempty" yaml:"global_batch,omitempty"` // sequences per iteration
	Precision   Precision `json:"precision,omitempty" yaml:"precision,omitempty"`
	// FlashAttention drops the s*s attention-score activations (the 5as/h term)
	// and their memory traffic, as fused attention kernels do.
	FlashAttention bool `json:"flash_attention,omitempty" yaml:"flash_attention,omitempty"`
	// UntiedEmbeddings gives the output layer its own weights (Llama) instead
	// of reusing the input embedding (GPT).
	UntiedEmbeddings bool `json:"untied_embeddings,omitempty" yaml:"untied_embeddings,omitempty"`
}

// MaxLayers bounds a model's depth (65536 layers; today's deepest have
// about 130): the search's cost grows with the square root of it.
const MaxLayers = 1 << 16

// Normalize fills defaults and derives a shape from Params when the shape is
// missing, then validates the model.
func (m Model) Normalize() (Model, error) {
	if m.Precision == "" {
		m.Precision = BF16
	}
	if m.Vocab == 0 {
		m.Vocab = 51200
	}
	if m.Layers == 0 && m.Hidden == 0 && m.Params > 0 {
		m.Layers, m.Hidden, m.Heads = shapeFromParams(m.Params, m.Vocab)
	}
	if m.FFNHidden == 0 {
		m.FFNHidden = 4 * m.Hidden
	}
	if m.KVHeads == 0 {
		m.KVHeads = m.Heads
	}
	var errs []error
	switch m.Precision {
	case BF16, FP16, FP32:
	default:
		errs = append(errs, fmt.Errorf("precision %q: want bf16, fp16 or fp32", m.Precision))
	}
	if m.Layers <= 0 || m.Hidden <= 0 || m.Heads <= 0 {
		errs = append(errs, errors.New("model needs layers, hidden and heads (or a parameter count)"))
	} else if m.Layers > MaxLayers {
		errs = append(errs, fmt.Errorf("layers %d: at most %d", m.Layers, MaxLayers))
	} else {
		if m.Hidden%m.Heads != 0 {
			errs = append(errs, fmt.Errorf("hidden %d is not divisible by heads %d", m.Hidden, m.Heads))
		}
		if m.KVHeads <= 0 || m.Heads%m.KVHeads != 0 {
			errs = append(errs, fmt.Errorf("heads %d is not divisible by kv_heads %d", m.Heads, m.KVHeads))
		}
	}
	if m.SeqLen <= 0 {
		errs = append(errs, errors.New("model needs a sequence length > 0"))
	}
	if m.GlobalBatch <= 0 {
		errs = append(errs, errors.New("model needs a global batch > 0 (sequences per iteration)"))
	}
	if m.Vocab < 0 {
		errs = append(errs, errors.New("vocabulary must be > 0"))
	}
	return m, errors.Join(errs...)
}

// shapeFromParams picks a GPT-like shape for a parameter count: 128-wide heads
// and hidden ≈ 128 × layers, the aspect ratio of GPT-3 and Llama models.
func shapeFromParams(p float64, vocab int) (layers, hidden, heads int) {
	layers = max(2, int(math.Round(math.Cbrt(p/(12*128*128)))))
	body := p - float64(vocab)*float64(128*layers)
	h := math.Sqrt(math.Max(body, p/2) / (12 * float64(layers)))
	hidden = max(128, int(math.Round(h/128))*128)
	return layers, hidden, hidden / 128
}

func (m *Model) headDim() float64 { return float64(m.Hidden) / float64(m.Heads) }
func (m *Model) kvDim() float64   { return m.headDim() * float64(m.KVHeads) }

// LayerParams is the parameter count of one transformer layer: attention
// (Q, K, V, output projection), the MLP, biases and two layer norms.
func (m *Model) LayerParams() float64 {
	h, f := float64(m.Hidden), float64(m.FFNHidden)
	attn := h*h + 2*h*m.kvDim() + h*h + 2*h + 2*m.kvDim()
	mats := 2.0
	if m.GatedMLP {
		mats = 3
	}
	mlp := mats*h*f + f + h
	return attn + mlp + 4*h
}

// EmbeddingParams is the input embedding, plus the output layer when untied.
func (m *Model) EmbeddingParams() float64 {
	e := float64(m.Vocab) * float64(m.Hidden)
	if m.UntiedEmbeddings {
		e *= 2
	}
	return e
}

// TotalParams is the model's parameter count.
func (m *Model) TotalParams() float64 {
	return float64(m.Layers)*m.LayerParams() + m.EmbeddingParams() + 2*float64(m.Hidden)
}

// layerMatmulFLOPs is the forward FLOPs of one layer's weight matmuls for one
// token (2 FLOPs per multiply-add).
func (m *Model) layerMatmulFLOPs() float64 {
	h, f := float64(m.Hidden), float64(m.FFNHidden)
	mats := 2.0
	if m.GatedMLP {
		mats = 3
	}
	return 2 * (2*h*h + 2*h*m.kvDim() + mats*h*f)
}

// layerAttentionFLOPs is the forward FLOPs of QKᵀ and AV for one token; like
// Megatron it does not halve them for the causal mask.
func (m *Model) layerAttentionFLOPs() float64 {
	return 4 * float64(m.SeqLen) * float64(m.Hidden)
}

// logitFLOPs is the forward FLOPs of the output layer for one token.
func (m *Model) logitFLOPs() float64 { return 2 * float64(m.Hidden) * float64(m.Vocab) }

// IterationFLOPs is the FLOPs of one training iteration. With hardware true
// it counts the extra forward pass of recomputation, as Narayanan et al.
// (2021) do: for a GPT shape with full recomputation this is exactly
// 96·B·s·l·h²·(1 + s/6h + V/16lh). With hardware false it is the model FLOPs
// used for MFU (forward + backward only: 72·B·s·l·h²·(1 + s/6h + V/12lh)).
func (m *Model) IterationFLOPs(r Recompute, hardware bool) float64 {
	tokens := float64(m.GlobalBatch) * float64(m.SeqLen)
	mat, att := m.layerMatmulFLOPs(), m.layerAttentionFLOPs()
	layer := 3 * (mat + att)
	if hardware {
		switch r {
		case RecomputeFull:
			layer += mat + att
		case RecomputeSelective:
			layer += att
		}
	}
	return tokens * (float64(m.Layers)*layer + 3*m.logitFLOPs())
}
