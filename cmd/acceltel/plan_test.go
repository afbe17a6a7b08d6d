package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type planJSON struct {
	Layouts []map[string]any `json:"layouts"`
	Closest []map[string]any `json:"closest"`
	Current map[string]any   `json:"current"`
}

func planJSONOut(t *testing.T, args ...string) (int, planJSON, string) {
	t.Helper()
	code, out, errOut := runCLI(t, append([]string{"plan", "--json"}, args...)...)
	var doc planJSON
	require.NoError(t, json.Unmarshal([]byte(out), &doc), out)
	return code, doc, errOut
}

func TestPlanTable(t *testing.T) {
	code, out, errOut := runCLI(t, "plan", "--model", "gpt3-175b", "--gpu", "h100-sxm", "--gpus", "1024", "--top", "3")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "gpt3-175b: 174.6B parameters")
	assert.Contains(t, out, "iter ms")
	assert.Contains(t, out, "best: ")
	assert.Contains(t, out, "memory per GPU")
	assert.Regexp(t, `#2 .*: \+\d+% time: `, out)
}

func TestPlanJSONBestFirst(t *testing.T) {
	code, doc, errOut := planJSONOut(t, "--model", "llama3-70b", "--gpu", "h100-sxm", "--gpus", "256", "--top", "4")
	require.Equal(t, 0, code, errOut)
	require.Len(t, doc.Layouts, 4)
	prev := 0.0
	for _, l := range doc.Layouts {
		for _, k := range []string{"tp", "pp", "dp", "cp", "zero_stage", "recompute", "micro_batch", "predicted_iteration_ms", "memory_gib_per_gpu", "tflops_per_gpu", "mfu"} {
			assert.Contains(t, l, k)
		}
		ms := l["predicted_iteration_ms"].(float64)
		assert.GreaterOrEqual(t, ms, prev)
		prev = ms
		assert.LessOrEqual(t, l["memory_gib_per_gpu"].(float64), 80.0)
		gpus := l["tp"].(float64) * l["pp"].(float64) * l["dp"].(float64) * l["cp"].(float64)
		assert.Equal(t, 256.0, gpus)
	}
}

func TestPlanFixedDimensions(t *testing.T) {
	code, doc, errOut := planJSONOut(t, "--model", "gpt3-175b", "--gpu", "a100-80gb", "--gpus", "1024",
		"--tp", "8", "--pp", "8", "--dp", "16", "--micro-batch", "1", "--zero", "1", "--recompute", "full", "--top", "10")
	require.Equal(t, 0, code, errOut)
	require.NotEmpty(t, doc.Layouts)
	for _, l := range doc.Layouts {
		assert.Equal(t, 8.0, l["tp"])
		assert.Equal(t, 8.0, l["pp"])
		assert.Equal(t, 16.0, l["dp"])
		assert.Equal(t, 1.0, l["micro_batch"])
		assert.Equal(t, 1.0, l["zero_stage"])
		assert.Equal(t, "full", l["recompute"])
	}
}

func TestPlanFromFileWithFlagOverride(t *testing.T) {
	file := filepath.Join(t.TempDir(), "job.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`model:
  layers: 32
  hidden: 4096
  heads: 32
  seq_len: 4096
  vocab: 50257
  global_batch: 256
cluster:
  gpu: a100-80gb
  gpus: 64
  gpus_per_node: 8
  inter_node_gbps: 100
`), 0o600))
	code, doc, errOut := planJSONOut(t, "--file", file, "--gpus", "32", "--top", "2")
	require.Equal(t, 0, code, errOut)
	require.Len(t, doc.Layouts, 2)
	l := doc.Layouts[0]
	assert.Equal(t, 32.0, l["tp"].(float64)*l["pp"].(float64)*l["dp"].(float64)*l["cp"].(float64))

	require.NoError(t, os.WriteFile(file, []byte("model:\n  layerz: 3\n"), 0o600))
	code, _, errOut = runCLI(t, "plan", "--file", file, "--gpu", "h100-sxm", "--gpus", "8")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "layerz")
}

func TestPlanPriceRanksByCost(t *testing.T) {
	code, out, errOut := runCLI(t, "plan", "--model", "llama3-8b", "--gpu", "h100-sxm", "--gpus", "64", "--price-per-gpu-hour", "2.5", "--top", "3")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "$/step")
	assert.Contains(t, out, "% cost: ")
	code, doc, _ := planJSONOut(t, "--model", "llama3-8b", "--gpu", "h100-sxm", "--gpus", "64", "--price-per-gpu-hour", "2.5")
	require.Equal(t, 0, code)
	assert.Greater(t, doc.Layouts[0]["cost_per_step"].(float64), 0.0)
}

func TestPlanNothingFits(t *testing.T) {
	code, out, _ := runCLI(t, "plan", "--model", "gpt3-175b", "--gpu", "a100-40gb", "--gpus", "8")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "fits in 40 GiB per GPU; the closest:")
	code, doc, errOut := planJSONOut(t, "--model", "gpt3-175b", "--gpu", "a100-40gb", "--gpus", "8")
	assert.Equal(t, 1, code)
	assert.Empty(t, doc.Layouts)
	assert.NotEmpty(t, doc.Closest)
	assert.Contains(t, errOut, "closest")
}

func TestPlanUsageErrors(t *testing.T) {
	for name, args := range map[string][]string{
		"unknown model":    {"--model", "gpt5", "--gpu", "h100-sxm", "--gpus", "8"},
		"unknown gpu":      {"--model", "llama3-8b", "--gpu", "tpu", "--gpus", "8"},
		"no gpus":          {"--model", "llama3-8b", "--gpu", "h100-sxm"},
		"no shape":         {"--gpu", "h100-sxm", "--gpus", "8", "--seq", "2048", "--global-batch", "8"},
		"bad recompute":    {"--model", "llama3-8b", "--gpu", "h100-sxm", "--gpus", "8", "--recompute", "some"},
		"bad zero":         {"--model", "llama3-8b", "--gpu", "h100-sxm", "--gpus", "8", "--zero", "4"},
		"tp not dividing":  {"--model", "llama3-8b", "--gpu", "h100-sxm", "--gpus", "8", "--tp", "3"},
		"heads vs hidden":  {"--layers", "4", "--hidden", "1000", "--heads", "16", "--seq", "1024", "--global-batch", "8", "--gpu", "h100-sxm", "--gpus", "8"},
		"stray argument":   {"--model", "llama3-8b", "--gpu", "h100-sxm", "--gpus", "8", "extra"},
		"partial node":     {"--model", "llama3-8b", "--gpu", "h100-sxm", "--gpus", "12"},
		"negative top":     {"--model", "llama3-8b", "--gpu", "h100-sxm", "--gpus", "8", "--top", "0"},
		"tp across nodes":  {"--model", "llama3-8b", "--gpu", "h100-sxm", "--gpus", "16", "--tp", "16"},
		"batch vs dp only": {"--model", "llama3-8b", "--gpu", "h100-sxm", "--gpus", "8", "--dp", "8", "--global-batch", "12"},
		"zero comm scale":  {"--model", "llama3-8b", "--gpu", "h100-sxm", "--gpus", "8", "--comm-scale", "0"},
	} {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runCLI(t, append([]string{"plan"}, args...)...)
			assert.Equal(t, 2, code, out)
			assert.NotEmpty(t, errOut)
		})
	}
}

// A communication calibration changes the layout chosen: with the
// network 4× slower than the preset, Megatron's 18B model gives up tensor
// parallelism.
func TestPlanCommScaleChangesChoice(t *testing.T) {
	args := []string{"plan", "--model", "megatron-18b", "--gpu", "a100-80gb", "--gpus", "256", "--recompute", "full", "--zero", "0",
		"--no-sequence-parallel", "--overlap-grad-reduce=false", "--grad-bytes", "6", "--json", "--top", "1"}
	best := func(extra ...string) map[string]any {
		code, out, errOut := runCLI(t, append(args, extra...)...)
		require.Equal(t, 0, code, errOut)
		var doc struct {
			Layouts []map[string]any `json:"layouts"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &doc))
		require.Len(t, doc.Layouts, 1)
		return doc.Layouts[0]
	}
	plain, slow := best(), best("--comm-scale", "4")
	assert.Greater(t, plain["tp"], 1.0)
	assert.Equal(t, 1.0, slow["tp"], "with slow links the fastest layout has no tensor parallelism")
	assert.Greater(t, slow["predicted_iteration_ms"], plain["predicted_iteration_ms"])
}

// With every dimension but interleaving fixed, the default lists the one
// layout at its best interleaving; --all-variants lists each interleaving.
func TestPlanAllVariants(t *testing.T) {
	args := []string{"--model", "gpt3-175b", "--gpu", "a100-80gb", "--gpus", "1024",
		"--tp", "8", "--pp", "8", "--dp", "16", "--micro-batch", "1", "--zero", "1", "--recompute", "full", "--top", "10"}
	code, best, errOut := planJSONOut(t, args...)
	require.Equal(t, 0, code, errOut)
	require.Len(t, best.Layouts, 1)
	code, all, errOut := planJSONOut(t, append(args, "--all-variants")...)
	require.Equal(t, 0, code, errOut)
	require.Greater(t, len(all.Layouts), 1)
	seen := map[float64]bool{}
	for _, l := range all.Layouts {
		v := l["virtual_stages"].(float64)
		assert.False(t, seen[v], "interleaving %v listed twice", v)
		seen[v] = true
	}
	assert.Equal(t, all.Layouts[0], best.Layouts[0])
}

// --current evaluates a running job's layout next to the best one: how
// much faster the best is, and why the current one loses.
func TestPlanCurrent(t *testing.T) {
	args := []string{"--model", "megatron-18b", "--gpu", "a100-80gb", "--gpus", "256", "--zero", "0", "--cp", "1",
		"--recompute", "full", "--no-sequence-parallel", "--grad-bytes", "6", "--top", "3"}
	code, out, errOut := runCLI(t, append([]string{"plan", "--current", "tp=8,pp=1,mb=8,recompute=full"}, args...)...)
	require.Equal(t, 0, code, errOut)
	assert.Regexp(t, `current tp8 pp1 dp32 zero0 mb8 full: [0-9.]+ ms, .*: the best is 1\.\d\d× faster; the current one is \+\d+% time: more tensor-parallel communication`, out)

	code, doc, errOut := planJSONOut(t, append([]string{"--current", "tp=8,pp=1,mb=8,recompute=full"}, args...)...)
	require.Equal(t, 0, code, errOut)
	cur := doc.Current
	require.NotNil(t, cur)
	assert.Equal(t, 8.0, cur["tp"])
	assert.Equal(t, 32.0, cur["dp"], "dp is what the GPUs leave")
	assert.Greater(t, cur["predicted_iteration_ms"].(float64), doc.Layouts[0]["predicted_iteration_ms"].(float64))
	assert.Contains(t, cur["why_not_best"], "tensor-parallel communication")

	// 175B on one node: nothing fits, the current layout included.
	code, out, _ = runCLI(t, "plan", "--model", "gpt3-175b", "--gpu", "h100-sxm", "--gpus", "8", "--current", "tp=8,pp=1,mb=1")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "current tp8 pp1 dp1 zero0 mb1 none")
	assert.Contains(t, out, "does not fit, it needs")
}

func TestParseLayout(t *testing.T) {
	l, err := parseLayout("tp=4, pp=2,mb=2,vpp=3,zero=1,recompute=selective,cp=2", 64)
	require.NoError(t, err)
	assert.Equal(t, "tp4 pp2 dp4 cp2 v3 zero1 mb2 selective", l.String())
	for in, want := range map[string]string{
		"pp=1,mb=1":                     "tp is required",
		"tp=1,pp=1":                     "mb is required",
		"tp=1,pp=1,mb=1,tp=2":           "tp given twice",
		"tp=1,pp=1,mb=1,x=2":            `unknown key "x"`,
		"tp=one,pp=1,mb=1":              `tp="one" is not an integer`,
		"tp=1,pp=1,mb":                  `"mb" is not key=value`,
		"tp=1,pp=1,mb=1,recompute=some": `recompute "some"`,
	} {
		_, err := parseLayout(in, 8)
		if assert.Error(t, err, in) {
			assert.Contains(t, err.Error(), want, in)
		}
	}
	code, _, errOut := runCLI(t, "plan", "--model", "megatron-18b", "--gpu", "a100-80gb", "--gpus", "256", "--current", "tp=3,pp=1,mb=8")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "not the 256 GPUs")
}
