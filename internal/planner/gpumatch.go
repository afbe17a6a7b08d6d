package planner

import "strings"

// GPUPresetForModel finds the preset for a GPU named either as a preset
// ("h100-sxm") or as NVML and nvidia-smi name it, which is what hw.model
// carries ("NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-40GB"). Variants
// without a preset of their own (PCIe and NVL boards) map to the closest
// SXM part; callers that measure memory or bandwidth override those fields.
func GPUPresetForModel(name string) (GPU, bool) {
	if g, ok := GPUPreset(name); ok {
		return g, true
	}
	n := strings.ToLower(name)
	var preset string
	switch {
	case strings.Contains(n, "b200"):
		preset = "b200"
	case strings.Contains(n, "h200"):
		preset = "h200"
	case strings.Contains(n, "h100"):
		preset = "h100-sxm"
	case strings.Contains(n, "a100") && strings.Contains(n, "40gb"):
		preset = "a100-40gb"
	case strings.Contains(n, "a100"):
		preset = "a100-80gb"
	default:
		return GPU{}, false
	}
	return GPUPreset(preset)
}
