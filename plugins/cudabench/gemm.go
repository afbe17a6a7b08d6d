package main

import (
	"math/rand/v2"
	"slices"
	"sort"
)

// CUDA library enums (library_types.h, cublas_api.h); their values are ABI.
const (
	cudaR32F    = 0  // CUDA_R_32F
	cudaR16F    = 2  // CUDA_R_16F
	cudaR16BF   = 14 // CUDA_R_16BF
	cudaR8FE4M3 = 28 // CUDA_R_8F_E4M3

	cublasCompute32F         = 68 // CUBLAS_COMPUTE_32F
	cublasCompute32FFastTF32 = 77 // CUBLAS_COMPUTE_32F_FAST_TF32
)

// gemmType is one GEMM variant: the storage of A and B, of C and D, and the
// compute type. All accumulate in FP32, as frameworks do by default.
type gemmType struct {
	name           string
	abType, cdType int32
	compute        int32
	abSize, cdSize int64 // bytes per element
	// minCC is the compute capability (major*10+minor) whose tensor cores
	// take this type; older GPUs skip it.
	minCC int
}

var gemmTypes = []gemmType{
	{name: "bf16", abType: cudaR16BF, cdType: cudaR16BF, compute: cublasCompute32F, abSize: 2, cdSize: 2, minCC: 80},
	{name: "fp16", abType: cudaR16F, cdType: cudaR16F, compute: cublasCompute32F, abSize: 2, cdSize: 2, minCC: 70},
	{name: "tf32", abType: cudaR32F, cdType: cudaR32F, compute: cublasCompute32FFastTF32, abSize: 4, cdSize: 4, minCC: 80},
	// cuBLASLt has no FP8 output without scaling factors; bf16 D is what
	// FP8 training uses between layers.
	{name: "fp8", abType: cudaR8FE4M3, cdType: cudaR16BF, compute: cublasCompute32F, abSize: 1, cdSize: 2, minCC: 89},
}

func findGemmType(name string) (gemmType, bool) {
	i := slices.IndexFunc(gemmTypes, func(t gemmType) bool { return t.name == name })
	if i < 0 {
		return gemmType{}, false
	}
	return gemmTypes[i], true
}

func gemmTypeNames() []string {
	var out []string
	for _, t := range gemmTypes {
		out = append(out, t.name)
	}
	return out
}

// gemmFLOPs counts a multiply and an add per inner-product term, as every
// published TFLOP/s figure does. float64: 2*m*n*k overflows nothing there.
func gemmFLOPs(m, n, k int64) float64 { return 2 * float64(m) * float64(n) * float64(k) }

// randomPattern returns nbytes of random finite values in the given
// cudaDataType, magnitudes in [1/16, 2) with random signs. Real data rather
// than zeros: tensor cores draw more power on random bits, and a benchmark on
// zeros runs at clocks no workload sees. The range keeps a K-long dot
// product far from overflow in every output type.
func randomPattern(dtype int32, nbytes int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	out := make([]byte, nbytes)
	switch dtype {
	case cudaR32F:
		for i := 0; i+4 <= nbytes; i += 4 {
			v := r.Uint32()
			bits := v&0x807fffff | (123+r.Uint32N(5))<<23 // exponent 2^-4 .. 2^0
			out[i], out[i+1], out[i+2], out[i+3] = byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24)
		}
	case cudaR16BF:
		for i := 0; i+2 <= nbytes; i += 2 {
			v := uint16(r.Uint32())
			bits := v&0x807f | uint16(123+r.Uint32N(5))<<7
			out[i], out[i+1] = byte(bits), byte(bits>>8)
		}
	case cudaR16F:
		for i := 0; i+2 <= nbytes; i += 2 {
			v := uint16(r.Uint32())
			bits := v&0x83ff | uint16(11+r.Uint32N(5))<<10
			out[i], out[i+1] = byte(bits), byte(bits>>8)
		}
	case cudaR8FE4M3:
		for i := range out {
			v := byte(r.Uint32())
			out[i] = v&0x87 | byte(3+r.Uint32N(5))<<3
		}
	}
	return out
}

// median of the repetitions; the slice is sorted in place.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
