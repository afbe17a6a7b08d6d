package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/acceltel/acceltel/internal/planner"
)

// planFile is what --file holds (YAML, or JSON, which YAML reads too).
type planFile struct {
	Model struct {
		Preset        string `yaml:"preset"`
		planner.Model `yaml:",inline"`
	} `yaml:"model"`
	Cluster struct {
		GPU                string  `yaml:"gpu"`
		GPUs               int     `yaml:"gpus"`
		GPUsPerNode        int     `yaml:"gpus_per_node"`
		PeakTFLOPS         float64 `yaml:"peak_tflops"`
		MemoryGiB          float64 `yaml:"memory_gib"`
		HBMGBs             float64 `yaml:"hbm_gbs"`
		IntraNodeGBs       float64 `yaml:"intra_node_gbs"`
		InterNodeGbps      float64 `yaml:"inter_node_gbps"`
		IntraNodeLatencyUs float64 `yaml:"intra_node_latency_us"`
		InterNodeLatencyUs float64 `yaml:"inter_node_latency_us"`
		PricePerGPUHour    float64 `yaml:"price_per_gpu_hour"`
	} `yaml:"cluster"`
}

type planFlags struct {
	file, model, gpu, precision, recompute     string
	params                                     float64
	layers, hidden, heads, kvHeads, ffn        int
	seq, vocab, globalBatch                    int
	gpus, gpusPerNode                          int
	intraGBs, interGbps, hbmGBs, peak, memGiB  float64
	price, gradBytes                           float64
	computeScale, commScale, bubbleScale       float64
	noSeqParallel                              bool
	tp, pp, dp, cp, microBatch, zero, virtual  int
	maxMicroBatch, top                         int
	jsonOut, crossNodeTP, overlapGrad, flashAt bool
	allVariants                                bool
	current                                    string
}

func newPlanCommand() *cobra.Command {
	var f planFlags
	cmd := &cobra.Command{
		Use:   "plan [--model PRESET | --layers N --hidden N --heads N ...] --gpu PRESET --gpus N",
		Short: "Choose a parallel layout (tp, pp, dp, cp, ZeRO, recomputation, micro-batch) for training a transformer",
		Long: "Enumerate every valid layout of a decoder-only transformer on a GPU cluster, predict memory per GPU\n" +
			"and iteration time, and print the fastest layouts that fit (the cheapest per step with --price-per-gpu-hour).\n" +
			"Model presets: " + strings.Join(planner.ModelPresetNames(), ", ") + ".\n" +
			"GPU presets: " + strings.Join(planner.GPUPresetNames(), ", ") + ".\n" +
			"--file reads the model and cluster from YAML or JSON; flags given on the command line override it.\n" +
			"--tp, --pp, --dp, --cp, --micro-batch, --zero, --recompute and --virtual-stages fix that dimension.\n" +
			"Exit status: 0 with a layout, 1 when none fits (the closest are printed), 2 for invalid input.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPlan(cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.file, "file", "", "YAML or JSON file with model: and cluster: sections")
	fl.StringVar(&f.model, "model", "", "model preset")
	fl.StringVar(&f.gpu, "gpu", "", "GPU preset")
	fl.Float64Var(&f.params, "params", 0, "parameter count, when no shape is given (e.g. 7e9)")
	fl.IntVar(&f.layers, "layers", 0, "transformer layers")
	fl.IntVar(&f.hidden, "hidden", 0, "hidden size")
	fl.IntVar(&f.heads, "heads", 0, "attention heads")
	fl.IntVar(&f.kvHeads, "kv-heads", 0, "key/value heads (grouped-query attention; default: heads)")
	fl.IntVar(&f.ffn, "ffn-hidden", 0, "FFN hidden size (default 4 × hidden)")
	fl.IntVar(&f.seq, "seq", 0, "sequence length")
	fl.IntVar(&f.vocab, "vocab", 0, "vocabulary size (default 51200)")
	fl.IntVar(&f.globalBatch, "global-batch", 0, "sequences per iteration")
	fl.StringVar(&f.precision, "precision", "", "bf16, fp16 or fp32 (default bf16)")
	fl.BoolVar(&f.flashAt, "flash-attention", false, "fused attention: no s×s score activations")
	fl.IntVar(&f.gpus, "gpus", 0, "GPUs in the job")
	fl.IntVar(&f.gpusPerNode, "gpus-per-node", 0, "GPUs per node (default 8)")
	fl.Float64Var(&f.intraGBs, "intra-node-gbs", 0, "NVLink all-reduce bus bandwidth per GPU, GB/s (default: the GPU preset's)")
	fl.Float64Var(&f.interGbps, "inter-node-gbps", 0, "network bandwidth per GPU, Gbit/s (default: the GPU preset's)")
	fl.Float64Var(&f.hbmGBs, "hbm-gbs", 0, "HBM bandwidth, GB/s (default: the GPU preset's)")
	fl.Float64Var(&f.peak, "peak-tflops", 0, "dense 16-bit peak TFLOP/s (default: the GPU preset's)")
	fl.Float64Var(&f.memGiB, "memory-gib", 0, "GPU memory, GiB (default: the GPU preset's)")
	fl.Float64Var(&f.price, "price-per-gpu-hour", 0, "price of one GPU-hour; ranks layouts by cost per step")
	fl.IntVar(&f.tp, "tp", 0, "fix tensor-parallel degree")
	fl.IntVar(&f.pp, "pp", 0, "fix pipeline-parallel degree")
	fl.IntVar(&f.dp, "dp", 0, "fix data-parallel degree")
	fl.IntVar(&f.cp, "cp", 0, "fix context-parallel degree")
	fl.IntVar(&f.microBatch, "micro-batch", 0, "fix micro-batch size")
	fl.IntVar(&f.zero, "zero", -1, "fix ZeRO stage 0-3 (default: try every stage)")
	fl.StringVar(&f.recompute, "recompute", "", "fix activation recomputation: none, selective or full")
	fl.IntVar(&f.virtual, "virtual-stages", 0, "fix virtual pipeline stages (interleaved 1F1B)")
	fl.IntVar(&f.maxMicroBatch, "max-micro-batch", 16, "largest micro-batch tried")
	fl.BoolVar(&f.crossNodeTP, "allow-cross-node-tp", false, "let tensor parallelism span nodes")
	fl.StringVar(&f.current, "current", "", "compare a running job's layout with the best, e.g. tp=8,pp=1,mb=8,recompute=full (keys tp, pp, dp, cp, vpp, zero, recompute, mb)")
	fl.BoolVar(&f.allVariants, "all-variants", false, "rank every micro-batch and interleaving of a layout (default: each layout once, at its best)")
	fl.BoolVar(&f.overlapGrad, "overlap-grad-reduce", true, "overlap the gradient reduction with backward (Megatron --overlap-grad-reduce)")
	fl.Float64Var(&f.gradBytes, "grad-bytes", 0, "gradient bytes per parameter (default 2; Megatron keeps 4 with bf16, 6 with fp16)")
	fl.BoolVar(&f.noSeqParallel, "no-sequence-parallel", false, "the framework has no sequence parallelism (Megatron-LM before 2022): norms and dropouts run whole on every tp rank")
	fl.Float64Var(&f.computeScale, "compute-scale", 1, "calibration: multiply the predicted compute (kernels, launch, optimizer) by this")
	fl.Float64Var(&f.commScale, "comm-scale", 1, "calibration: multiply the predicted communication (tp/cp collectives, pipeline sends, dp reduction) by this")
	fl.Float64Var(&f.bubbleScale, "bubble-scale", 1, "calibration: multiply the predicted pipeline bubble by this")
	fl.IntVar(&f.top, "top", 5, "layouts to print")
	fl.BoolVar(&f.jsonOut, "json", false, `print {"layouts": [...]} as JSON`)
	return cmd
}

// usageError prints msg and exits 2.
func usageError(cmd *cobra.Command, format string, a ...any) error {
	fmt.Fprintf(cmd.ErrOrStderr(), "acceltel plan: "+format+"\n", a...)
	return exitError{code: 2}
}

// planInputs builds the model, cluster and constraints: presets first, then
// the file, then the flags given on the command line.
func planInputs(cmd *cobra.Command, f *planFlags) (planner.Model, planner.Cluster, planner.Constraints, error) {
	var m planner.Model
	var c planner.Cluster
	var cons planner.Constraints
	set := cmd.Flags().Changed
	var file planFile
	if f.file != "" {
		data, err := os.ReadFile(f.file)
		if err != nil {
			return m, c, cons, err
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&file); err != nil && !errors.Is(err, io.EOF) {
			return m, c, cons, fmt.Errorf("%s: %w", f.file, err)
		}
	}
	preset := file.Model.Preset
	if set("model") {
		preset = f.model
	}
	if preset != "" {
		p, ok := planner.ModelPreset(preset)
		if !ok {
			return m, c, cons, fmt.Errorf("unknown model preset %q (want one of %s)", preset, strings.Join(planner.ModelPresetNames(), ", "))
		}
		m = p
	}
	overlay(&m, file.Model.Model)
	gpuName := file.Cluster.GPU
	if set("gpu") {
		gpuName = f.gpu
	}
	if gpuName != "" {
		g, ok := planner.GPUPreset(gpuName)
		if !ok {
			return m, c, cons, fmt.Errorf("unknown GPU preset %q (want one of %s)", gpuName, strings.Join(planner.GPUPresetNames(), ", "))
		}
		c.GPU = g
	}
	fc := &file.Cluster
	setF := func(dst *float64, fileV float64, flag string, flagV float64) {
		if fileV != 0 {
			*dst = fileV
		}
		if set(flag) {
			*dst = flagV
		}
	}
	setI := func(dst *int, fileV int, flag string, flagV int) {
		if fileV != 0 {
			*dst = fileV
		}
		if set(flag) {
			*dst = flagV
		}
	}
	setF(&c.GPU.PeakTFLOPS, fc.PeakTFLOPS, "peak-tflops", f.peak)
	setF(&c.GPU.MemoryGiB, fc.MemoryGiB, "memory-gib", f.memGiB)
	setF(&c.GPU.HBMGBs, fc.HBMGBs, "hbm-gbs", f.hbmGBs)
	setF(&c.GPU.IntraNodeGBs, fc.IntraNodeGBs, "intra-node-gbs", f.intraGBs)
	setF(&c.GPU.InterNodeGbps, fc.InterNodeGbps, "inter-node-gbps", f.interGbps)
	setF(&c.PricePerGPUHour, fc.PricePerGPUHour, "price-per-gpu-hour", f.price)
	c.IntraNodeLatencyUs, c.InterNodeLatencyUs = fc.IntraNodeLatencyUs, fc.InterNodeLatencyUs
	setI(&c.GPUs, fc.GPUs, "gpus", f.gpus)
	setI(&c.GPUsPerNode, fc.GPUsPerNode, "gpus-per-node", f.gpusPerNode)

	setF(&m.Params, 0, "params", f.params)
	setI(&m.Layers, 0, "layers", f.layers)
	setI(&m.Hidden, 0, "hidden", f.hidden)
	setI(&m.Heads, 0, "heads", f.heads)
	setI(&m.KVHeads, 0, "kv-heads", f.kvHeads)
	setI(&m.FFNHidden, 0, "ffn-hidden", f.ffn)
	setI(&m.SeqLen, 0, "seq", f.seq)
	setI(&m.Vocab, 0, "vocab", f.vocab)
	setI(&m.GlobalBatch, 0, "global-batch", f.globalBatch)
	if set("precision") {
		m.Precision = planner.Precision(f.precision)
	}
	if set("flash-attention") {
		m.FlashAttention = f.flashAt
	}

	cons = planner.Constraints{TP: f.tp, PP: f.pp, DP: f.dp, CP: f.cp, MicroBatch: f.microBatch,
		VirtualStages: f.virtual, MaxMicroBatch: f.maxMicroBatch, AllowCrossNodeTP: f.crossNodeTP,
		AllVariants: f.allVariants}
	for name, v := range map[string]int{"tp": f.tp, "pp": f.pp, "dp": f.dp, "cp": f.cp, "micro-batch": f.microBatch, "virtual-stages": f.virtual, "top": f.top, "max-micro-batch": f.maxMicroBatch} {
		if set(name) && v < 1 {
			return m, c, cons, fmt.Errorf("--%s %d: must be >= 1", name, v)
		}
	}
	if set("zero") {
		if f.zero < 0 || f.zero > 3 {
			return m, c, cons, fmt.Errorf("--zero %d: want 0, 1, 2 or 3", f.zero)
		}
		cons.ZeRO = &f.zero
	}
	if set("recompute") {
		r, err := planner.ParseRecompute(f.recompute)
		if err != nil {
			return m, c, cons, err
		}
		cons.Recompute = r
	}
	if c.GPUs == 0 {
		return m, c, cons, errors.New("--gpus is required")
	}
	if c.GPU.PeakTFLOPS == 0 {
		return m, c, cons, fmt.Errorf("--gpu is required (one of %s) unless the GPU's figures are all given", strings.Join(planner.GPUPresetNames(), ", "))
	}
	var err error
	if m, err = m.Normalize(); err != nil {
		return m, c, cons, err
	}
	if c, err = c.Normalize(); err != nil {
		return m, c, cons, err
	}
	return m, c, cons, nil
}

// overlay copies the fields of src that are set onto dst.
func overlay(dst *planner.Model, src planner.Model) {
	if src.Name != "" {
		dst.Name = src.Name
	}
	for _, p := range []struct{ d, s *int }{
		{&dst.Layers, &src.Layers}, {&dst.Hidden, &src.Hidden}, {&dst.Heads, &src.Heads}, {&dst.KVHeads, &src.KVHeads},
		{&dst.FFNHidden, &src.FFNHidden}, {&dst.Vocab, &src.Vocab}, {&dst.SeqLen, &src.SeqLen}, {&dst.GlobalBatch, &src.GlobalBatch},
	} {
		if *p.s != 0 {
			*p.d = *p.s
		}
	}
	if src.Params != 0 {
		dst.Params = src.Params
	}
	if src.Precision != "" {
		dst.Precision = src.Precision
	}
	dst.GatedMLP = dst.GatedMLP || src.GatedMLP
	dst.FlashAttention = dst.FlashAttention || src.FlashAttention
	dst.UntiedEmbeddings = dst.UntiedEmbeddings || src.UntiedEmbeddings
}

// jsonLayout is one layout of --json output; times in ms, memory in GiB.
type jsonLayout struct {
	TP                   int                `json:"tp"`
	PP                   int                `json:"pp"`
	DP                   int                `json:"dp"`
	CP                   int                `json:"cp"`
	VirtualStages        int                `json:"virtual_stages"`
	ZeROStage            int                `json:"zero_stage"`
	Recompute            string             `json:"recompute"`
	MicroBatch           int                `json:"micro_batch"`
	PredictedIterationMS float64            `json:"predicted_iteration_ms"`
	MemoryGiBPerGPU      float64            `json:"memory_gib_per_gpu"`
	Fits                 bool               `json:"fits"`
	TFLOPSPerGPU         float64            `json:"tflops_per_gpu"`
	MFU                  float64            `json:"mfu"`
	TokensPerSecond      float64            `json:"tokens_per_second"`
	CostPerStep          float64            `json:"cost_per_step,omitempty"`
	MemoryGiB            map[string]float64 `json:"memory_gib"`
	TimeMS               map[string]float64 `json:"time_ms"`
	WhyNotBest           string             `json:"why_not_best,omitempty"`
}

func toJSON(e *planner.Evaluation, why string) jsonLayout {
	const gib = 1 << 30
	m, t := &e.Memory, &e.Time
	return jsonLayout{
		TP: e.TP, PP: e.PP, DP: e.DP, CP: e.CP, VirtualStages: e.VirtualStages, ZeROStage: e.ZeRO,
		Recompute: string(e.Recompute), MicroBatch: e.MicroBatch,
		PredictedIterationMS: 1e3 * t.Total, MemoryGiBPerGPU: m.Total / gib, Fits: e.Fits,
		TFLOPSPerGPU: e.TFLOPSPerGPU, MFU: e.MFU, TokensPerSecond: e.TokensPerSecond, CostPerStep: e.CostPerStep,
		MemoryGiB: map[string]float64{"weights": m.Weights / gib, "gradients": m.Gradients / gib, "optimizer": m.Optimizer / gib,
			"activations": m.Activations / gib, "embedding": m.Embedding / gib, "comm_buffers": m.CommBuffers / gib,
			"zero_gather": m.ZeROGather / gib, "reserved": m.Reserved / gib, "capacity": e.MemoryCapacity / gib},
		TimeMS: map[string]float64{"compute": 1e3 * t.Compute, "launch": 1e3 * t.Launch, "tp_comm": 1e3 * t.TPComm,
			"cp_comm": 1e3 * t.CPComm, "pipeline_bubble": 1e3 * t.PipelineBubble, "pipeline_p2p": 1e3 * t.PipelineP2P,
			"dp_comm": 1e3 * t.DPComm, "dp_overlapped": 1e3 * t.DPOverlapped, "zero_gather": 1e3 * t.ZeROGather,
			"optimizer": 1e3 * t.Optimizer, "overhead": 1e3 * t.Overhead},
		WhyNotBest: why,
	}
}

func runPlan(cmd *cobra.Command, f *planFlags) error {
	m, c, cons, err := planInputs(cmd, f)
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	for _, sc := range []struct {
		name string
		v    float64
	}{{"compute-scale", f.computeScale}, {"comm-scale", f.commScale}, {"bubble-scale", f.bubbleScale}} {
		if !(sc.v > 0) {
			return usageError(cmd, "--%s %g: want a factor > 0", sc.name, sc.v)
		}
	}
	opts := planner.Options{OverlapGradReduce: f.overlapGrad, GradientBytes: f.gradBytes, NoSequenceParallel: f.noSeqParallel,
		Scale: planner.Scale{Compute: f.computeScale, Communication: f.commScale, Bubble: f.bubbleScale}}
	var cur *planner.Evaluation
	if f.current != "" {
		l, err := parseLayout(f.current, c.GPUs)
		if err != nil {
			return usageError(cmd, "%v", err)
		}
		e, err := planner.Evaluate(&m, &c, l, opts)
		if err != nil {
			return usageError(cmd, "--current: %v", err)
		}
		cur = &e
	}
	res, err := planner.Plan(m, c, cons, opts, f.top)
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	var best *planner.Evaluation
	if len(res.Layouts) > 0 {
		best = &res.Layouts[0]
	}
	// Why the current layout loses to the best, when it does.
	curWhy := ""
	if cur != nil && best != nil && cur.Time.Total > best.Time.Total {
		curWhy = planner.WhyLoses(best, cur, res.RankedByCost)
	}
	out := cmd.OutOrStdout()
	if f.jsonOut {
		doc := struct {
			Layouts    []jsonLayout `json:"layouts"`
			Closest    []jsonLayout `json:"closest,omitempty"`
			Current    *jsonLayout  `json:"current,omitempty"`
			Considered int          `json:"considered"`
			Fitting    int          `json:"fitting"`
		}{Layouts: []jsonLayout{}, Considered: res.Considered, Fitting: res.Fitting}
		if cur != nil {
			j := toJSON(cur, curWhy)
			doc.Current = &j
		}
		for i := range res.Layouts {
			why := ""
			if i > 0 {
				why = planner.WhyLoses(&res.Layouts[0], &res.Layouts[i], res.RankedByCost)
			}
			doc.Layouts = append(doc.Layouts, toJSON(&res.Layouts[i], why))
		}
		for i := range res.Closest {
			doc.Closest = append(doc.Closest, toJSON(&res.Closest[i], ""))
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return err
		}
	} else {
		printPlan(out, res)
		if cur != nil {
			printCurrent(out, cur, best, curWhy)
		}
	}
	if len(res.Layouts) == 0 {
		if f.jsonOut {
			for _, l := range res.Explain() {
				fmt.Fprintln(cmd.ErrOrStderr(), l)
			}
		}
		return exitError{code: 1}
	}
	return nil
}

func printPlan(out io.Writer, res *planner.Result) {
	m, c := &res.Model, &res.Cluster
	name := m.Name
	if name == "" {
		name = "model"
	}
	fmt.Fprintf(out, "%s: %.1fB parameters, %d layers, hidden %d, %d heads, seq %d, global batch %d\n",
		name, m.TotalParams()/1e9, m.Layers, m.Hidden, m.Heads, m.SeqLen, m.GlobalBatch)
	fmt.Fprintf(out, "cluster: %d × %s (%d per node, %.0f TFLOP/s, %.0f GiB), NVLink %.0f GB/s, network %.0f Gbit/s per GPU\n\n",
		c.GPUs, c.GPU.Name, c.GPUsPerNode, c.GPU.PeakTFLOPS, c.GPU.MemoryGiB, c.GPU.IntraNodeGBs, c.GPU.InterNodeGbps)
	if len(res.Layouts) == 0 {
		for _, l := range res.Explain() {
			fmt.Fprintln(out, l)
		}
		return
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', tabwriter.AlignRight)
	head := "#\ttp\tpp\tdp\tcp\tvpp\tzero\trecompute\tmb\titer ms\tGiB/GPU\tTFLOP/s\tMFU\t"
	if res.RankedByCost {
		head += "$/step\t"
	}
	fmt.Fprintln(tw, head)
	for i, e := range res.Layouts {
		row := fmt.Sprintf("%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f%%\t",
			i+1, e.TP, e.PP, e.DP, e.CP, e.VirtualStages, e.ZeRO, e.Recompute, e.MicroBatch,
			1e3*e.Time.Total, e.Memory.Total/(1<<30), e.TFLOPSPerGPU, 100*e.MFU)
		if res.RankedByCost {
			row += fmt.Sprintf("%.4f\t", e.CostPerStep)
		}
		fmt.Fprintln(tw, row)
	}
	_ = tw.Flush() // writes to the command's own output: nothing to do on failure
	fmt.Fprintln(out)
	for _, l := range res.Explain() {
		fmt.Fprintln(out, l)
	}
}
