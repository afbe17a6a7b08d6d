// Package cuda holds the GPU kernels of the cudabench plugin: kernels.cu and
// the PTX clang generates from it. The PTX is committed so that building the
// plugin needs neither clang nor a CUDA toolkit; the driver JIT-compiles it at
// run time for the GPU it finds (sm_80 PTX runs on sm_80 and every later GPU).
package cuda // import "github.com/acceltel/acceltel/native/cuda"

import _ "embed" // for go:embed

// Only clang (Debian 12: clang 14) is needed to regenerate; see README.md.
//go:generate clang --cuda-device-only -nocudainc -nocudalib --cuda-gpu-arch=sm_80 -O3 -S -x cuda kernels.cu -o kernels.ptx

// KernelsPTX is kernels.ptx, the PTX of kernels.cu.
//
//go:embed kernels.ptx
var KernelsPTX string

// Kernel entry points in KernelsPTX.
const (
	KernelCopy  = "copy16"
	KernelTriad = "triad"
	KernelEmpty = "empty"
)
