package planner

import "fmt"

// Recompute is the activation recomputation policy.
type Recompute string

const (
	RecomputeNone      Recompute = "none"
	RecomputeSelective Recompute = "selective" // attention core only (Korthikanti et al. 2022)
	RecomputeFull      Recompute = "full"      // every layer, keeping only its input
)

// ParseRecompute accepts none, selective or full.
func ParseRecompute(s string) (Recompute, error) {
	switch r := Recompute(s); r {
	case RecomputeNone, RecomputeSelective, RecomputeFull:
		return r, nil
	}
	return "", fmt.Errorf("recompute %q: want none, selective or full", s)
}

// Layout is one way to lay a model out on the cluster. Ranks are ordered
// tensor-parallel innermost, then context, data and pipeline parallel, as
// Megatron does, so tp (and tp·cp) groups are the ones that stay in a node.
type Layout struct {
	TP            int       `json:"tp"`
	PP            int       `json:"pp"`
	DP            int       `json:"dp"`
	CP            int       `json:"cp"`
	ZeRO          int       `json:"zero_stage"`
	Recompute     Recompute `json:"recompute"`
	MicroBatch    int       `json:"micro_batch"`
	VirtualStages int       `json:"virtual_stages"` // interleaved 1F1B chunks per pipeline stage; 1 is plain 1F1B
}

func (l Layout) String() string {
	s := fmt.Sprintf("tp%d pp%d dp%d", l.TP, l.PP, l.DP)
	if l.CP > 1 {
		s += fmt.Sprintf(" cp%d", l.CP)
	}
	if l.VirtualStages > 1 {
		s += fmt.Sprintf(" v%d", l.VirtualStages)
	}
	return s + fmt.Sprintf(" zero%d mb%d %s", l.ZeRO, l.MicroBatch, l.Recompute)
}

// VariantGroup is the layout with micro-batch and interleaving zeroed: the
// variants of one way to split the model, which Plan lists once.
func (l Layout) VariantGroup() Layout {
	l.MicroBatch, l.VirtualStages = 0, 0
	return l
}

// GPUs is the number of GPUs the layout uses.
func (l Layout) GPUs() int { return l.TP * l.PP * l.DP * l.CP }

// MicroBatches is the number of micro-batches each pipeline runs per iteration.
func (l Layout) MicroBatches(m *Model) int { return m.GlobalBatch / (l.MicroBatch * l.DP) }

// problem is why a layout is invalid; problems are codes so the enumeration
// can reject millions of layouts without formatting a message for each.
type problem int

const (
	ok problem = iota
	badDegree
	badGPUCount
	badHeads
	badFFN
	badLayers
	badVirtual
	badBatch
	badInterleaveBatch
	badSeq
	badZeRO
	badZeROPipeline
	badTPNode
	badTPSplit
)

func (l Layout) problem(m *Model, c *Cluster, allowCrossNodeTP bool) problem {
	switch {
	case l.TP < 1 || l.PP < 1 || l.DP < 1 || l.CP < 1 || l.MicroBatch < 1 || l.VirtualStages < 1:
		return badDegree
	case l.GPUs() != c.GPUs:
		return badGPUCount
	case m.Heads%l.TP != 0 || (m.KVHeads%l.TP != 0 && l.TP%m.KVHeads != 0):
		return badHeads
	case m.FFNHidden%l.TP != 0:
		return badFFN
	case m.Layers%l.PP != 0:
		return badLayers
	case l.VirtualStages > 1 && (l.PP < 3 || m.Layers%(l.PP*l.VirtualStages) != 0):
		return badVirtual
	case m.GlobalBatch%(l.MicroBatch*l.DP) != 0:
		return badBatch
	case l.VirtualStages > 1 && l.MicroBatches(m)%l.PP != 0:
		return badInterleaveBatch
	case l.CP > 1 && m.SeqLen%(2*l.CP) != 0:
		return badSeq
	case l.ZeRO < 0 || l.ZeRO > 3:
		return badZeRO
	case l.ZeRO >= 2 && l.PP > 1:
		return badZeROPipeline
	case !allowCrossNodeTP && l.TP > c.GPUsPerNode:
		return badTPNode
	case l.TP <= c.GPUsPerNode && c.GPUsPerNode%l.TP != 0 || l.TP > c.GPUsPerNode && l.TP%c.GPUsPerNode != 0:
		return badTPSplit
	}
	return ok
}

// Check reports why a layout is invalid for a model and cluster, or nil.
func (l Layout) Check(m *Model, c *Cluster, allowCrossNodeTP bool) error {
	switch l.problem(m, c, allowCrossNodeTP) {
	case ok:
		return nil
	case badDegree:
		return fmt.Errorf("%v: degrees, micro-batch and virtual stages must be >= 1", l)
	case badGPUCount:
		return fmt.Errorf("%v: tp·pp·dp·cp = %d, not the %d GPUs", l, l.GPUs(), c.GPUs)
	case badHeads:
		return fmt.Errorf("%v: %d attention heads (%d key/value heads) are not divisible by tp %d", l, m.Heads, m.KVHeads, l.TP)
	case badFFN:
		return fmt.Errorf("%v: ffn hidden %d is not divisible by tp %d", l, m.FFNHidden, l.TP)
	case badLayers:
		return fmt.Errorf("%v: %d layers are not divisible by pp %d", l, m.Layers, l.PP)
	case badVirtual:
		return fmt.Errorf("%v: %d layers are not divisible by pp·virtual stages %d (interleaving needs pp > 2, as in Megatron-LM)", l, m.Layers, l.PP*l.VirtualStages)
	case badBatch:
		return fmt.Errorf("%v: global batch %d is not divisible by micro-batch·dp %d", l, m.GlobalBatch, l.MicroBatch*l.DP)
	case badInterleaveBatch:
		return fmt.Errorf("%v: interleaving needs the micro-batches (%d) to be a multiple of pp %d", l, l.MicroBatches(m), l.PP)
	case badSeq:
		return fmt.Errorf("%v: sequence %d is not divisible by 2·cp %d", l, m.SeqLen, 2*l.CP)
	case badZeRO:
		return fmt.Errorf("%v: zero stage %d: want 0-3", l, l.ZeRO)
	case badZeROPipeline:
		return fmt.Errorf("%v: zero stage %d shards gradients, which pipeline parallelism cannot use (pp %d)", l, l.ZeRO, l.PP)
	case badTPSplit:
		return fmt.Errorf("%v: tp %d groups would straddle nodes of %d GPUs", l, l.TP, c.GPUsPerNode)
	default:
		return fmt.Errorf("%v: tp %d spans nodes of %d GPUs (allow it explicitly)", l, l.TP, c.GPUsPerNode)
	}
}
