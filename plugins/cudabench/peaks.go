package main

import (
	"slices"
	"strings"
	"unicode"
)

// gpuPeaks are a GPU model's datasheet figures: memory bandwidth in By/s and
// dense (no 2:4 sparsity) tensor-core throughput in FLOP/s by GEMM type.
// Datasheets give sparse figures first; these are half of them.
type gpuPeaks struct {
	// tokens must all appear among the words of the name the driver reports
	// (cuDeviceGetName, e.g. "NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB").
	// Whole words, so that GH200 is not taken for an H200.
	tokens []string
	memory float64
	flops  map[string]float64
}

const tera = 1e12

// peakTable is searched in order, so a variant comes before its family.
var peakTable = []gpuPeaks{
	{tokens: []string{"h200", "nvl"}, memory: 4.8 * tera,
		flops: map[string]float64{"bf16": 835.5 * tera, "fp16": 835.5 * tera, "tf32": 417.5 * tera, "fp8": 1670.5 * tera}},
	{tokens: []string{"h200"}, memory: 4.8 * tera,
		flops: map[string]float64{"bf16": 989.4 * tera, "fp16": 989.4 * tera, "tf32": 494.7 * tera, "fp8": 1978.9 * tera}},
	{tokens: []string{"h100", "nvl"}, memory: 3.9 * tera,
		flops: map[string]float64{"bf16": 835.5 * tera, "fp16": 835.5 * tera, "tf32": 417.5 * tera, "fp8": 1670.5 * tera}},
	{tokens: []string{"h100", "pcie"}, memory: 2.0 * tera,
		flops: map[string]float64{"bf16": 756.5 * tera, "fp16": 756.5 * tera, "tf32": 378 * tera, "fp8": 1513 * tera}},
	// The SXM part: "NVIDIA H100 80GB HBM3".
	{tokens: []string{"h100"}, memory: 3.35 * tera,
		flops: map[string]float64{"bf16": 989.4 * tera, "fp16": 989.4 * tera, "tf32": 494.7 * tera, "fp8": 1978.9 * tera}},
	{tokens: []string{"a100", "80gb", "pcie"}, memory: 1.935 * tera,
		flops: map[string]float64{"bf16": 312 * tera, "fp16": 312 * tera, "tf32": 156 * tera}},
	{tokens: []string{"a100", "80gb"}, memory: 2.039 * tera,
		flops: map[string]float64{"bf16": 312 * tera, "fp16": 312 * tera, "tf32": 156 * tera}},
	// 40GB, SXM4 and PCIe alike.
	{tokens: []string{"a100"}, memory: 1.555 * tera,
		flops: map[string]float64{"bf16": 312 * tera, "fp16": 312 * tera, "tf32": 156 * tera}},
	{tokens: []string{"l40s"}, memory: 0.864 * tera,
		flops: map[string]float64{"bf16": 362.05 * tera, "fp16": 362.05 * tera, "tf32": 183 * tera, "fp8": 733 * tera}},
}

func nameTokens(name string) []string {
	return strings.FieldsFunc(strings.ToLower(name), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// lookupPeaks returns the datasheet figures of the GPU the driver calls name.
func lookupPeaks(name string) (gpuPeaks, bool) {
	words := nameTokens(name)
	for _, p := range peakTable {
		if !slices.ContainsFunc(p.tokens, func(t string) bool { return !slices.Contains(words, t) }) {
			return p, true
		}
	}
	return gpuPeaks{}, false
}

// Where a reference peak comes from, in the bench.peak_source attribute.
const (
	peakDatasheet = "datasheet"
	peakClocks    = "clocks"
)

// memoryPeak is the datasheet bandwidth, or for a GPU not in the table the
// limit its memory clock and bus width give (double data rate): both are
// what the driver reports, and for the table's GPUs they agree with it.
func memoryPeak(name string, memClockKHz, busWidthBits int) (float64, string) {
	if p, ok := lookupPeaks(name); ok {
		return p.memory, peakDatasheet
	}
	if memClockKHz > 0 && busWidthBits > 0 {
		return 2 * float64(memClockKHz) * 1e3 * float64(busWidthBits) / 8, peakClocks
	}
	return 0, ""
}

// gemmPeak is the datasheet dense throughput for a GEMM type, 0 when unknown.
func gemmPeak(name, dtype string) float64 {
	p, _ := lookupPeaks(name)
	return p.flops[dtype]
}
