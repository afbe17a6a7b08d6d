package planner

import "testing"

func TestGPUPresetForModel(t *testing.T) {
	for name, want := range map[string]string{
		"h100-sxm":                "h100-sxm",
		"A100-80GB":               "a100-80gb",
		"NVIDIA H100 80GB HBM3":   "h100-sxm",
		"NVIDIA H100 PCIe":        "h100-sxm",
		"NVIDIA H200":             "h200",
		"NVIDIA B200":             "b200",
		"NVIDIA A100-SXM4-40GB":   "a100-40gb",
		"NVIDIA A100-SXM4-80GB":   "a100-80gb",
		"NVIDIA A100 80GB PCIe":   "a100-80gb",
		"NVIDIA GeForce RTX 4090": "",
		"":                        "",
		"Tesla V100-SXM2-32GB":    "",
	} {
		g, ok := GPUPresetForModel(name)
		if ok != (want != "") || g.Name != want {
			t.Errorf("GPUPresetForModel(%q) = %q, %v; want %q", name, g.Name, ok, want)
		}
	}
}
