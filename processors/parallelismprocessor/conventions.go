package parallelismprocessor // import "github.com/acceltel/acceltel/processors/parallelismprocessor"

import (
	"math"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/acceltel/acceltel/internal/planner"
)

// Resource attributes of a training job's processes and the metrics it
// sends; README.md documents them.
const (
	attrJobID        = "ml.job.id"
	attrK8sJob       = "k8s.job.name"
	attrK8sNamespace = "k8s.namespace.name"
	attrHostName     = "host.name"
	attrK8sNodeName  = "k8s.node.name"
	attrHWModel      = "hw.model"
	attrHWID         = "hw.id"

	metricStepDuration = "ml.train.step.duration"
	metricTokens       = "ml.train.tokens"

	metricGPUMemoryLimit = "hw.gpu.memory.limit"
	metricBusBandwidth   = "nccl.collective.bus_bandwidth"
	metricIBPortRate     = "infiniband.port.rate"
	metricCostRate       = "acceltel.cost.rate" // the cost processor's price of one GPU-hour

	attrCollective = "nccl.collective"
	attrCommNodes  = "nccl.communicator.nodes"
	attrIBDevice   = "infiniband.device"
	attrIBPort     = "infiniband.port"
)

// field is one ml.* resource attribute of the job's shape and layout.
type field uint8

const (
	fLayers field = iota
	fHidden
	fHeads
	fKVHeads
	fFFN
	fVocab
	fParams
	fGatedMLP
	fUntied
	fSeq
	fGlobalBatch
	fMicroBatch
	fPrecision
	fFlash
	fOverlap
	fTP
	fPP
	fDP
	fCP
	fVirtual
	fZeRO
	fRecompute
	fGPUs
	fGPUsPerNode
	fGPUModel
	nFields
)

var fieldNames = [nFields]string{
	fLayers:      "ml.model.layers",
	fHidden:      "ml.model.hidden_size",
	fHeads:       "ml.model.attention_heads",
	fKVHeads:     "ml.model.key_value_heads",
	fFFN:         "ml.model.ffn_hidden_size",
	fVocab:       "ml.model.vocab_size",
	fParams:      "ml.model.parameters",
	fGatedMLP:    "ml.model.gated_mlp",
	fUntied:      "ml.model.untied_embeddings",
	fSeq:         "ml.train.sequence_length",
	fGlobalBatch: "ml.train.global_batch_size",
	fMicroBatch:  "ml.train.micro_batch_size",
	fPrecision:   "ml.train.precision",
	fFlash:       "ml.train.flash_attention",
	fOverlap:     "ml.train.overlap_grad_reduce",
	fTP:          "ml.parallel.tensor",
	fPP:          "ml.parallel.pipeline",
	fDP:          "ml.parallel.data",
	fCP:          "ml.parallel.context",
	fVirtual:     "ml.parallel.virtual_stages",
	fZeRO:        "ml.zero.stage",
	fRecompute:   "ml.recompute",
	fGPUs:        "ml.job.gpu.count",
	fGPUsPerNode: "ml.job.node.gpu.count",
	fGPUModel:    "ml.job.gpu.model",
}

var fieldByName = func() map[string]field {
	m := make(map[string]field, nFields)
	for f, n := range fieldNames {
		m[n] = field(f)
	}
	return m
}()

type fieldSet uint32

func (s fieldSet) has(f field) bool { return s&(1<<f) != 0 }
func (s *fieldSet) add(f field)     { *s |= 1 << f }

// spec is what a job says about itself. It is comparable, so a change of
// shape or layout (a restart with another layout) is one comparison.
type spec struct {
	model       planner.Model
	layout      planner.Layout
	gpus        int
	gpusPerNode int
	gpuModel    string
	overlap     bool
	present     fieldSet // attributes sent
	bad         fieldSet // attributes sent with a value that does not parse
}

// parseSpec reads the ml.* attributes of a resource in one pass and reports
// whether there were any besides the job id, which is what makes a resource
// a training job's rather than one that merely names a job.
func parseSpec(attrs pcommon.Map) (s spec, training bool) {
	s.layout = planner.Layout{CP: 1, VirtualStages: 1, Recompute: planner.RecomputeNone}
	attrs.Range(func(k string, v pcommon.Value) bool {
		if !strings.HasPrefix(k, "ml.") || k == attrJobID {
			return true
		}
		training = true
		f, known := fieldByName[k]
		if !known {
			return true
		}
		s.present.add(f)
		if !s.set(f, v) {
			s.bad.add(f)
		}
		return true
	})
	return s, training
}

// set stores one attribute; false means its value does not parse.
func (s *spec) set(f field, v pcommon.Value) bool {
	switch f {
	case fPrecision:
		p := planner.Precision(strings.ToLower(v.AsString()))
		s.model.Precision = p
		return p == planner.BF16 || p == planner.FP16 || p == planner.FP32
	case fRecompute:
		r, err := planner.ParseRecompute(strings.ToLower(v.AsString()))
		s.layout.Recompute = r
		return err == nil
	case fGPUModel:
		s.gpuModel = v.AsString()
		return s.gpuModel != ""
	case fGatedMLP, fUntied, fFlash, fOverlap:
		b, ok := boolValue(v)
		switch f {
		case fGatedMLP:
			s.model.GatedMLP = b
		case fUntied:
			s.model.UntiedEmbeddings = b
		case fFlash:
			s.model.FlashAttention = b
		default:
			s.overlap = b
		}
		return ok
	case fParams:
		x, ok := floatValue(v)
		s.model.Params = x
		return ok && x > 0
	}
	n, ok := intValue(v)
	if !ok || n < 0 || n > math.MaxInt32 || (n == 0 && f != fZeRO) {
		return false
	}
	*s.intField(f) = int(n)
	return f != fZeRO || n <= 3
}

func (s *spec) intField(f field) *int {
	switch f {
	case fLayers:
		return &s.model.Layers
	case fHidden:
		return &s.model.Hidden
	case fHeads:
		return &s.model.Heads
	case fKVHeads:
		return &s.model.KVHeads
	case fFFN:
		return &s.model.FFNHidden
	case fVocab:
		return &s.model.Vocab
	case fSeq:
		return &s.model.SeqLen
	case fGlobalBatch:
		return &s.model.GlobalBatch
	case fMicroBatch:
		return &s.layout.MicroBatch
	case fTP:
		return &s.layout.TP
	case fPP:
		return &s.layout.PP
	case fDP:
		return &s.layout.DP
	case fCP:
		return &s.layout.CP
	case fVirtual:
		return &s.layout.VirtualStages
	case fZeRO:
		return &s.layout.ZeRO
	case fGPUs:
		return &s.gpus
	default: // fGPUsPerNode
		return &s.gpusPerNode
	}
}

// missing lists the required attributes the job did not send; one of each
// "or" group is named by the group.
func (s *spec) missing() []string {
	var out []string
	if !s.present.has(fParams) && (!s.present.has(fLayers) || !s.present.has(fHidden) || !s.present.has(fHeads)) {
		out = append(out, fieldNames[fLayers]+", "+fieldNames[fHidden]+" and "+fieldNames[fHeads]+" (or "+fieldNames[fParams]+")")
	}
	for _, f := range []field{fSeq, fGlobalBatch, fMicroBatch, fTP, fPP} {
		if !s.present.has(f) {
			out = append(out, fieldNames[f])
		}
	}
	if !s.present.has(fGPUs) && !s.present.has(fDP) {
		out = append(out, fieldNames[fGPUs]+" (or "+fieldNames[fDP]+")")
	}
	return out
}

// invalid lists the attributes whose values do not parse.
func (s *spec) invalid() []string {
	var out []string
	for f := range nFields {
		if s.bad.has(f) {
			out = append(out, fieldNames[f])
		}
	}
	return out
}

// intValue accepts ints, integral doubles and decimal strings: attributes
// set through OTEL_RESOURCE_ATTRIBUTES arrive as strings.
func intValue(v pcommon.Value) (int64, bool) {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int(), true
	case pcommon.ValueTypeDouble:
		d := v.Double()
		return int64(d), d == math.Trunc(d) && math.Abs(d) < 1<<53
	case pcommon.ValueTypeStr:
		n, err := strconv.ParseInt(strings.TrimSpace(v.Str()), 10, 64)
		return n, err == nil
	}
	return 0, false
}

func floatValue(v pcommon.Value) (float64, bool) {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return float64(v.Int()), true
	case pcommon.ValueTypeDouble:
		return v.Double(), !math.IsNaN(v.Double()) && !math.IsInf(v.Double(), 0)
	case pcommon.ValueTypeStr:
		x, err := strconv.ParseFloat(strings.TrimSpace(v.Str()), 64)
		return x, err == nil && !math.IsNaN(x) && !math.IsInf(x, 0)
	}
	return 0, false
}

func boolValue(v pcommon.Value) (bool, bool) {
	switch v.Type() {
	case pcommon.ValueTypeBool:
		return v.Bool(), true
	case pcommon.ValueTypeStr:
		b, err := strconv.ParseBool(strings.TrimSpace(v.Str()))
		return b, err == nil
	case pcommon.ValueTypeInt:
		return v.Int() != 0, v.Int() == 0 || v.Int() == 1
	}
	return false, false
}
