package planner

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// GPU is one accelerator model. Bandwidths are what collectives achieve
// (nccl-tests bus bandwidth), not the marketing link rate.
type GPU struct {
	Name         string  `json:"name" yaml:"name"`
	PeakTFLOPS   float64 `json:"peak_tflops" yaml:"peak_tflops"`       // dense bf16/fp16 tensor-core TFLOP/s
	MemoryGiB    float64 `json:"memory_gib" yaml:"memory_gib"`         // HBM capacity
	HBMGBs       float64 `json:"hbm_gbs" yaml:"hbm_gbs"`               // HBM bandwidth, GB/s
	IntraNodeGBs float64 `json:"intra_node_gbs" yaml:"intra_node_gbs"` // NVLink bus bandwidth per GPU, GB/s
	// InterNodeGbps is the network bandwidth per GPU (one NIC per GPU), Gbit/s.
	InterNodeGbps float64 `json:"inter_node_gbps" yaml:"inter_node_gbps"`
}

// Cluster is the hardware a job runs on.
type Cluster struct {
	GPU         GPU `json:"gpu" yaml:"gpu"`
	GPUs        int `json:"gpus" yaml:"gpus"`
	GPUsPerNode int `json:"gpus_per_node" yaml:"gpus_per_node"`
	// Latencies are per ring step of a collective (or per point-to-point send).
	IntraNodeLatencyUs float64 `json:"intra_node_latency_us,omitempty" yaml:"intra_node_latency_us,omitempty"`
	InterNodeLatencyUs float64 `json:"inter_node_latency_us,omitempty" yaml:"inter_node_latency_us,omitempty"`
	// PricePerGPUHour, when > 0, ranks layouts by cost per step.
	PricePerGPUHour float64 `json:"price_per_gpu_hour,omitempty" yaml:"price_per_gpu_hour,omitempty"`
}

// MaxGPUs bounds a cluster (16.7 million GPUs): the search's cost grows with
// the square root of the GPU count.
const MaxGPUs = 1 << 24

// Normalize fills defaults and validates the cluster.
func (c Cluster) Normalize() (Cluster, error) {
	if c.GPUsPerNode == 0 {
		c.GPUsPerNode = 8
	}
	if c.IntraNodeLatencyUs == 0 {
		c.IntraNodeLatencyUs = defaultIntraNodeLatencyUs
	}
	if c.InterNodeLatencyUs == 0 {
		c.InterNodeLatencyUs = defaultInterNodeLatencyUs
	}
	var errs []error
	if c.GPUs <= 0 {
		errs = append(errs, errors.New("cluster needs gpus > 0"))
	} else if c.GPUs > MaxGPUs {
		errs = append(errs, fmt.Errorf("gpus %d: at most %d", c.GPUs, MaxGPUs))
	}
	if c.GPUsPerNode <= 0 {
		errs = append(errs, errors.New("gpus per node must be > 0"))
	} else if c.GPUs > c.GPUsPerNode && c.GPUs%c.GPUsPerNode != 0 {
		errs = append(errs, fmt.Errorf("gpus %d is not a whole number of %d-GPU nodes", c.GPUs, c.GPUsPerNode))
	}
	g := c.GPU
	if g.PeakTFLOPS <= 0 || g.MemoryGiB <= 0 || g.HBMGBs <= 0 || g.IntraNodeGBs <= 0 || g.InterNodeGbps <= 0 {
		errs = append(errs, fmt.Errorf("gpu %q needs peak_tflops, memory_gib, hbm_gbs, intra_node_gbs and inter_node_gbps > 0 (or a preset: %s)",
			g.Name, strings.Join(GPUPresetNames(), ", ")))
	}
	if c.PricePerGPUHour < 0 {
		errs = append(errs, errors.New("price per GPU-hour must be >= 0"))
	}
	return c, errors.Join(errs...)
}

// GPUPresetNames lists the GPU presets, sorted.
func GPUPresetNames() []string {
	names := make([]string, 0, len(gpuPresets))
	for n := range gpuPresets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// GPUPreset returns a GPU preset by name.
func GPUPreset(name string) (GPU, bool) {
	g, ok := gpuPresets[strings.ToLower(name)]
	return g, ok
}
