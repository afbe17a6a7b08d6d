package planner

import (
	"sort"
	"strings"
)

// gpuPresets are per-GPU figures from the vendors' data sheets; the NVLink
// figure is the all-reduce bus bandwidth nccl-tests reaches inside an HGX
// node (about 75-80% of the unidirectional link rate), the network figure is
// one NIC per GPU as in DGX/HGX systems.
var gpuPresets = map[string]GPU{
	"a100-40gb": {Name: "a100-40gb", PeakTFLOPS: 312, MemoryGiB: 40, HBMGBs: 1555, IntraNodeGBs: 230, InterNodeGbps: 200},
	"a100-80gb": {Name: "a100-80gb", PeakTFLOPS: 312, MemoryGiB: 80, HBMGBs: 2039, IntraNodeGBs: 230, InterNodeGbps: 200},
	"h100-sxm":  {Name: "h100-sxm", PeakTFLOPS: 989, MemoryGiB: 80, HBMGBs: 3350, IntraNodeGBs: 370, InterNodeGbps: 400},
	"h200":      {Name: "h200", PeakTFLOPS: 989, MemoryGiB: 140, HBMGBs: 4800, IntraNodeGBs: 370, InterNodeGbps: 400},
	"b200":      {Name: "b200", PeakTFLOPS: 2250, MemoryGiB: 179, HBMGBs: 8000, IntraNodeGBs: 720, InterNodeGbps: 400},
}

// Table1Row is one row of Table 1 of Narayanan et al., "Efficient
// Large-Scale Language Model Training on GPU Clusters Using Megatron-LM"
// (SC'21): GPT models on Selene (DGX A100 80GB, 8 GPUs and 8 HDR NICs per
// node), sequence 2048, vocabulary 51,200, full activation recomputation.
// MicroBatch, VirtualStages and TorchDDP are the settings of the paper's
// run script (Megatron-LM examples/sc21/run_table_1.sh).
type Table1Row struct {
	Name        string
	ParamsB     float64 // billions, as published
	Heads       int
	Hidden      int
	Layers      int
	TP, PP      int
	GPUs        int
	GlobalBatch int
	TFLOPS      float64 // achieved teraFLOP/s per GPU, counting recomputation FLOPs
	MicroBatch  int
	// VirtualStages is the interleaved schedule's model chunks per stage
	// (layers / pp / --num-layers-per-virtual-pipeline-stage); 1 is plain 1F1B.
	VirtualStages int
	// TorchDDP is PyTorch's DistributedDataParallel, which all-reduces
	// gradient buckets while the backward pass runs; the other rows used
	// Megatron's local DDP, which all-reduces after it.
	TorchDDP bool
}

// MegatronTable1 is Table 1 of Narayanan et al. (SC'21).
var MegatronTable1 = []Table1Row{
	{"megatron-1.7b", 1.7, 24, 2304, 24, 1, 1, 32, 512, 137, 16, 1, true},
	{"megatron-3.6b", 3.6, 32, 3072, 30, 2, 1, 64, 512, 138, 16, 1, true},
	{"megatron-7.5b", 7.5, 32, 4096, 36, 4, 1, 128, 512, 142, 16, 1, true},
	{"megatron-18b", 18.4, 48, 6144, 40, 8, 1, 256, 1024, 135, 8, 1, true},
	{"megatron-39b", 39.1, 64, 8192, 48, 8, 2, 512, 1536, 138, 4, 1, false},
	{"megatron-76b", 76.1, 80, 10240, 60, 8, 4, 1024, 1792, 140, 2, 3, false},
	{"megatron-145b", 145.6, 96, 12288, 80, 8, 8, 1536, 2304, 148, 2, 2, false},
	{"megatron-310b", 310.1, 128, 16384, 96, 8, 16, 1920, 2160, 155, 1, 2, false},
	{"megatron-530b", 529.6, 128, 20480, 105, 8, 35, 2520, 2520, 163, 1, 3, false},
	{"megatron-1t", 1008.0, 160, 25600, 128, 8, 64, 3072, 3072, 163, 1, 1, false},
}

// Model returns the row's model.
func (r Table1Row) Model() Model {
	return Model{Name: r.Name, Layers: r.Layers, Hidden: r.Hidden, Heads: r.Heads, Vocab: 51200,
		SeqLen: 2048, GlobalBatch: r.GlobalBatch, Precision: FP16}
}

// Cluster returns Selene as the paper used it for this row.
func (r Table1Row) Cluster() Cluster {
	g, _ := GPUPreset("a100-80gb")
	return Cluster{GPU: g, GPUs: r.GPUs, GPUsPerNode: 8}
}

// modelPresets holds the published shapes; the global batch is the one the
// model was trained with where it is published (GPT-3: 1,536 × 2,048
// tokens; Llama 3 405B: 16M tokens) and a like-sized default otherwise.
var modelPresets = func() map[string]Model {
	m := map[string]Model{
		"gpt3-175b": {Name: "gpt3-175b", Layers: 96, Hidden: 12288, Heads: 96, Vocab: 50257, SeqLen: 2048, GlobalBatch: 1536, Precision: BF16},
		"llama3-8b": {Name: "llama3-8b", Layers: 32, Hidden: 4096, Heads: 32, KVHeads: 8, FFNHidden: 14336, GatedMLP: true,
			Vocab: 128256, SeqLen: 8192, GlobalBatch: 512, Precision: BF16, FlashAttention: true, UntiedEmbeddings: true},
		"llama3-70b": {Name: "llama3-70b", Layers: 80, Hidden: 8192, Heads: 64, KVHeads: 8, FFNHidden: 28672, GatedMLP: true,
			Vocab: 128256, SeqLen: 8192, GlobalBatch: 1024, Precision: BF16, FlashAttention: true, UntiedEmbeddings: true},
		"llama3-405b": {Name: "llama3-405b", Layers: 126, Hidden: 16384, Heads: 128, KVHeads: 8, FFNHidden: 53248, GatedMLP: true,
			Vocab: 128256, SeqLen: 8192, GlobalBatch: 2048, Precision: BF16, FlashAttention: true, UntiedEmbeddings: true},
	}
	for _, r := range MegatronTable1 {
		m[r.Name] = r.Model()
	}
	return m
}()

// ModelPreset returns a model preset by name.
func ModelPreset(name string) (Model, bool) {
	m, ok := modelPresets[strings.ToLower(name)]
	return m, ok
}

// ModelPresetNames lists the model presets, sorted.
func ModelPresetNames() []string {
	names := make([]string, 0, len(modelPresets))
	for n := range modelPresets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
