package main

import "strconv"

// deviceInfo identifies a GPU in every measurement.
type deviceInfo struct {
	index        int    // CUDA ordinal, which need not be NVML's index
	name         string // as cuDeviceGetName gives it, e.g. "NVIDIA H100 80GB HBM3"
	uuid         string // GPU-xxxxxxxx-..., as nvidia-smi and NVML print it
	cc           int    // compute capability, major*10+minor
	memClockKHz  int
	busWidthBits int
	totalMem     int64
}

// attrs are a measurement's attributes: the device, named as the nvml
// receiver names it (hw.id, hw.model) so that the two join, then extra as
// key, value pairs.
func (d deviceInfo) attrs(extra ...string) map[string]string {
	m := map[string]string{
		"cuda.device.index": strconv.Itoa(d.index),
		"hw.model":          d.name,
		"hw.id":             d.uuid,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

func (d deviceInfo) ccString() string { return strconv.Itoa(d.cc/10) + "." + strconv.Itoa(d.cc%10) }
