// Kernels of the cudabench plugin (plugins/cudabench), compiled to PTX by
// clang's NVPTX backend without a CUDA toolkit; the driver JIT-compiles the
// PTX for whatever GPU it runs on. Regenerate kernels.ptx with `go generate`
// in this directory (or `make generate`) after editing this file.
//
// No CUDA headers: the few attributes and builtins used are clang's own.

#define __global__ __attribute__((global))
#define __device__ __attribute__((device))

// 16-byte elements, so each thread issues one 128-bit load and store: narrower
// accesses need more threads in flight than a GPU has to saturate HBM.
typedef unsigned int u32x4 __attribute__((ext_vector_type(4)));
typedef double f64x2 __attribute__((ext_vector_type(2)));

static __device__ inline unsigned long long global_id(void) {
  return (unsigned long long)__nvvm_read_ptx_sreg_ctaid_x() * (unsigned)__nvvm_read_ptx_sreg_ntid_x() +
         (unsigned)__nvvm_read_ptx_sreg_tid_x();
}

// The grid stride lets the host cap the grid without losing elements.
static __device__ inline unsigned long long grid_stride(void) {
  return (unsigned long long)__nvvm_read_ptx_sreg_nctaid_x() * (unsigned)__nvvm_read_ptx_sreg_ntid_x();
}

// copy16: dst[i] = src[i] over n 16-byte elements (STREAM copy: 2 x 16 bytes each).
extern "C" __global__ void copy16(u32x4 *__restrict__ dst, const u32x4 *__restrict__ src, unsigned long long n) {
  for (unsigned long long i = global_id(); i < n; i += grid_stride()) {
    dst[i] = src[i];
  }
}

// triad: a[i] = b[i] + s * c[i] over n pairs of doubles (STREAM triad: 3 x 16 bytes each).
extern "C" __global__ void triad(f64x2 *__restrict__ a, const f64x2 *__restrict__ b, const f64x2 *__restrict__ c,
                                 double s, unsigned long long n) {
  for (unsigned long long i = global_id(); i < n; i += grid_stride()) {
    a[i] = b[i] + s * c[i];
  }
}

// empty does nothing: its launches measure launch overhead alone.
extern "C" __global__ void empty(void) {}
