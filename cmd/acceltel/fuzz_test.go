package main

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/acceltel/acceltel/internal/planner"
)

// FuzzPlanFile reads a `acceltel plan --file` document. It is refused with
// an error, or gives a normalized model and cluster on which the planner
// returns, in bounded time, layouts that fit, best first, with finite,
// non-negative predictions (and, when nothing fits, an explanation).
func FuzzPlanFile(f *testing.F) {
	for _, doc := range []string{
		"model:\n  preset: llama3-8b\ncluster:\n  gpu: h100-sxm\n  gpus: 64\n",
		"model:\n  layers: 32\n  hidden: 4096\n  heads: 32\n  kv_heads: 8\n  ffn_hidden: 14336\n  gated_mlp: true\n  vocab: 128256\n  seq_len: 8192\n  global_batch: 512\n  precision: bf16\n  flash_attention: true\n" +
			"cluster:\n  gpus: 16\n  gpus_per_node: 8\n  peak_tflops: 989\n  memory_gib: 80\n  hbm_gbs: 3350\n  intra_node_gbs: 370\n  inter_node_gbps: 400\n  price_per_gpu_hour: 2.5\n",
		`{"model": {"params": 7e9, "seq_len": 4096, "global_batch": 256}, "cluster": {"gpu": "a100-80gb", "gpus": 8}}`,
		"model:\n  preset: gpt3-175b\ncluster:\n  gpu: b200\n  gpus: 1024\n  intra_node_latency_us: 0.5\n",
		"model:\n  preset: nope\n",
		"model:\n  layers: -1\n  unknown: 1\n",
		"cluster:\n  gpu: h200\n  gpus: 3\n  gpus_per_node: 2\n",
		"model: {layers: 2, hidden: 1e308, heads: 1, seq_len: 1, global_batch: 1}\ncluster: {gpu: h100-sxm, gpus: 1}\n",
		"model: {params: .nan, seq_len: 1, global_batch: 1}\ncluster: {gpu: h100-sxm, gpus: 1, memory_gib: .inf}\n",
		"",
	} {
		f.Add([]byte(doc))
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "plan.yaml")
	f.Fuzz(func(t *testing.T, doc []byte) {
		if err := os.WriteFile(path, doc, 0o600); err != nil {
			t.Fatal(err)
		}
		fl := planFlags{file: path, zero: -1, maxMicroBatch: 16, top: 3, overlapGrad: true}
		m, c, cons, err := planInputs(&cobra.Command{}, &fl)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if m.Layers <= 0 || m.Hidden <= 0 || m.Heads <= 0 || m.SeqLen <= 0 || m.GlobalBatch <= 0 || c.GPUs <= 0 || c.GPUsPerNode <= 0 {
			t.Fatalf("accepted an unnormalized model %+v or cluster %+v", m, c)
		}
		type result struct {
			res *planner.Result
			err error
		}
		done := make(chan result, 1)
		go func() {
			res, err := planner.Plan(m, c, cons, planner.Options{OverlapGradReduce: true, Scale: planner.Scale{Compute: 1, Communication: 1, Bubble: 1}}, fl.top)
			done <- result{res, err}
		}()
		var r result
		select {
		case r = <-done:
		case <-time.After(60 * time.Second):
			t.Fatalf("planning %d GPUs, %d layers did not finish in 60 s", c.GPUs, m.Layers)
		}
		if r.err != nil {
			if r.res != nil || !errors.Is(r.err, planner.ErrNoLayout) {
				t.Fatalf("result %v with error %v", r.res, r.err)
			}
			return
		}
		if r.res.Considered < r.res.Fitting || len(r.res.Layouts) > fl.top {
			t.Fatalf("%d considered, %d fitting, %d layouts", r.res.Considered, r.res.Fitting, len(r.res.Layouts))
		}
		// Each layout once, at its best micro-batch and interleaving.
		listed := map[planner.Layout]bool{}
		for i := range r.res.Layouts {
			e := &r.res.Layouts[i]
			g := e.VariantGroup()
			if listed[g] {
				t.Fatalf("layout %d %v: its tp, pp, dp, cp, ZeRO and recomputation are listed twice", i, e.Layout)
			}
			listed[g] = true
			for _, v := range []float64{e.Memory.Total, e.Time.Total, e.TFLOPSPerGPU, e.MFU, e.TokensPerSecond, e.CostPerStep} {
				if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
					t.Fatalf("layout %d %v: prediction %v in %+v", i, e.Layout, v, e)
				}
			}
			if !e.Fits || e.Memory.Total > e.MemoryCapacity {
				t.Fatalf("layout %d %v does not fit: %v > %v", i, e.Layout, e.Memory.Total, e.MemoryCapacity)
			}
			if i > 0 {
				prev, cur := r.res.Layouts[i-1].Time.Total, e.Time.Total
				if r.res.RankedByCost {
					prev, cur = r.res.Layouts[i-1].CostPerStep, e.CostPerStep
				}
				if cur < prev*(1-1e-9) {
					t.Fatalf("layout %d (%v) ranks after a worse one (%v)", i, cur, prev)
				}
			}
		}
		if len(r.res.Layouts) == 0 && len(r.res.Explain()) == 0 {
			t.Fatal("nothing fits and nothing says why")
		}
	})
}
