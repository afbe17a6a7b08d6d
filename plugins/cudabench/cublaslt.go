//go:build cgo

package main

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// cublasLt.h's types, declared here so that no CUDA toolkit is needed to build.
typedef int cublasStatus_t;
typedef struct cublasLtContext *cublasLtHandle_t;
typedef struct cublasLtMatmulDescOpaque_t *cublasLtMatmulDesc_t;
typedef struct cublasLtMatrixLayoutOpaque_t *cublasLtMatrixLayout_t;
typedef struct cublasLtMatmulPreferenceOpaque_t *cublasLtMatmulPreference_t;
typedef struct { uint64_t data[8]; } cublasLtMatmulAlgo_t;
typedef struct {
	cublasLtMatmulAlgo_t algo;
	size_t workspaceSize;
	cublasStatus_t state;
	float wavesCount;
	int reserved[4];
} cublasLtMatmulHeuristicResult_t;

static void *lt_lib;
static char lt_err[512];
static const char *lt_last_error(void) { return lt_err; }

static size_t (*p_GetVersion)(void);
static const char *(*p_GetStatusName)(cublasStatus_t);
static cublasStatus_t (*p_Create)(cublasLtHandle_t *);
static cublasStatus_t (*p_Destroy)(cublasLtHandle_t);
static cublasStatus_t (*p_DescCreate)(cublasLtMatmulDesc_t *, int, int);
static cublasStatus_t (*p_DescDestroy)(cublasLtMatmulDesc_t);
static cublasStatus_t (*p_DescSet)(cublasLtMatmulDesc_t, int, const void *, size_t);
static cublasStatus_t (*p_LayoutCreate)(cublasLtMatrixLayout_t *, int, uint64_t, uint64_t, int64_t);
static cublasStatus_t (*p_LayoutDestroy)(cublasLtMatrixLayout_t);
static cublasStatus_t (*p_PrefCreate)(cublasLtMatmulPreference_t *);
static cublasStatus_t (*p_PrefDestroy)(cublasLtMatmulPreference_t);
static cublasStatus_t (*p_PrefSet)(cublasLtMatmulPreference_t, int, const void *, size_t);
static cublasStatus_t (*p_Heuristic)(cublasLtHandle_t, cublasLtMatmulDesc_t, cublasLtMatrixLayout_t,
                                     cublasLtMatrixLayout_t, cublasLtMatrixLayout_t, cublasLtMatrixLayout_t,
                                     cublasLtMatmulPreference_t, int, cublasLtMatmulHeuristicResult_t *, int *);
static cublasStatus_t (*p_Matmul)(cublasLtHandle_t, cublasLtMatmulDesc_t, const void *, const void *,
                                  cublasLtMatrixLayout_t, const void *, cublasLtMatrixLayout_t, const void *,
                                  const void *, cublasLtMatrixLayout_t, void *, cublasLtMatrixLayout_t,
                                  const cublasLtMatmulAlgo_t *, void *, size_t, void *);

static int lt_sym(void **dst, const char *name, int required) {
	dlerror();
	*dst = dlsym(lt_lib, name);
	if (*dst == NULL && required) {
		const char *e = dlerror();
		snprintf(lt_err, sizeof lt_err, "%s", e ? e : name);
		return -1;
	}
	return 0;
}

#define LTSYM(var, name) if (lt_sym((void **)&var, name, 1)) goto fail

// lt_load opens cuBLASLt and finds every function it needs, or fails naming
// the library or symbol; dlerror's text goes to lt_err.
static int lt_load(const char *path) {
	lt_lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (lt_lib == NULL) {
		const char *e = dlerror();
		snprintf(lt_err, sizeof lt_err, "%s", e ? e : path);
		return -1;
	}
	LTSYM(p_GetVersion, "cublasLtGetVersion");
	lt_sym((void **)&p_GetStatusName, "cublasLtGetStatusName", 0); // cuBLAS 11.4.2 and later
	LTSYM(p_Create, "cublasLtCreate");
	LTSYM(p_Destroy, "cublasLtDestroy");
	LTSYM(p_DescCreate, "cublasLtMatmulDescCreate");
	LTSYM(p_DescDestroy, "cublasLtMatmulDescDestroy");
	LTSYM(p_DescSet, "cublasLtMatmulDescSetAttribute");
	LTSYM(p_LayoutCreate, "cublasLtMatrixLayoutCreate");
	LTSYM(p_LayoutDestroy, "cublasLtMatrixLayoutDestroy");
	LTSYM(p_PrefCreate, "cublasLtMatmulPreferenceCreate");
	LTSYM(p_PrefDestroy, "cublasLtMatmulPreferenceDestroy");
	LTSYM(p_PrefSet, "cublasLtMatmulPreferenceSetAttribute");
	LTSYM(p_Heuristic, "cublasLtMatmulAlgoGetHeuristic");
	LTSYM(p_Matmul, "cublasLtMatmul");
	return 0;
fail:
	dlclose(lt_lib);
	lt_lib = NULL;
	return -1;
}

static size_t lt_version(void) { return p_GetVersion(); }
static const char *lt_status_name(cublasStatus_t s) { return p_GetStatusName ? p_GetStatusName(s) : NULL; }

enum { LT_MAX_ALGOS = 8 };

// lt_plan is one GEMM shape and type with cuBLASLt's candidate algorithms.
typedef struct {
	cublasLtHandle_t handle;
	cublasLtMatmulDesc_t desc;
	cublasLtMatrixLayout_t a, b, d;
	cublasLtMatmulPreference_t pref;
	cublasLtMatmulHeuristicResult_t results[LT_MAX_ALGOS];
	int nresults;
	const char *failed; // the call that failed
} lt_plan;

// lt_plan_init sets up D = A^T B with A stored k x m, B k x n, D m x n, all
// column-major: the "TN" layout, the one cuBLASLt's FP8 kernels require and
// as fast as any other for the 16-bit types. Scale type FP32, alpha and beta
// on the host.
static cublasStatus_t lt_plan_init(lt_plan *p, int compute, int abType, int dType, uint64_t m, uint64_t n,
                                   uint64_t k, uint64_t workspace, int want) {
	cublasStatus_t s;
	int opT = 1, opN = 0; // CUBLAS_OP_T, CUBLAS_OP_N
	if (want > LT_MAX_ALGOS) want = LT_MAX_ALGOS;
#define LT(call, name) if ((s = (call)) != 0) { p->failed = name; return s; }
	LT(p_Create(&p->handle), "cublasLtCreate");
	LT(p_DescCreate(&p->desc, compute, 0), "cublasLtMatmulDescCreate"); // scale type CUDA_R_32F
	LT(p_DescSet(p->desc, 3, &opT, sizeof opT), "cublasLtMatmulDescSetAttribute(TRANSA)");
	LT(p_DescSet(p->desc, 4, &opN, sizeof opN), "cublasLtMatmulDescSetAttribute(TRANSB)");
	LT(p_LayoutCreate(&p->a, abType, k, m, (int64_t)k), "cublasLtMatrixLayoutCreate(A)");
	LT(p_LayoutCreate(&p->b, abType, k, n, (int64_t)k), "cublasLtMatrixLayoutCreate(B)");
	LT(p_LayoutCreate(&p->d, dType, m, n, (int64_t)m), "cublasLtMatrixLayoutCreate(D)");
	LT(p_PrefCreate(&p->pref), "cublasLtMatmulPreferenceCreate");
	LT(p_PrefSet(p->pref, 1, &workspace, sizeof workspace), "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)");
	LT(p_Heuristic(p->handle, p->desc, p->a, p->b, p->d, p->d, p->pref, want, p->results, &p->nresults),
	   "cublasLtMatmulAlgoGetHeuristic");
#undef LT
	return 0;
}

static void lt_plan_destroy(lt_plan *p) {
	if (p->pref) p_PrefDestroy(p->pref);
	if (p->d) p_LayoutDestroy(p->d);
	if (p->b) p_LayoutDestroy(p->b);
	if (p->a) p_LayoutDestroy(p->a);
	if (p->desc) p_DescDestroy(p->desc);
	if (p->handle) p_Destroy(p->handle);
}

static int lt_algo_ok(lt_plan *p, int i) { return i < p->nresults && p->results[i].state == 0; }

// lt_matmul enqueues D = A^T B (beta 0, so C is D and is not read) with the
// i-th candidate algorithm on stream.
static cublasStatus_t lt_matmul(lt_plan *p, int i, unsigned long long A, unsigned long long B, unsigned long long D,
                                unsigned long long ws, size_t wsSize, void *stream) {
	float alpha = 1.0f, beta = 0.0f;
	return p_Matmul(p->handle, p->desc, &alpha, (const void *)A, p->a, (const void *)B, p->b, &beta,
	                (const void *)D, p->d, (void *)D, p->d, &p->results[i].algo, (void *)ws, wsSize, stream);
}
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// cublasStatus names (cublas_api.h), for libraries without cublasLtGetStatusName.
var cublasStatusNames = map[int]string{
	1: "CUBLAS_STATUS_NOT_INITIALIZED", 3: "CUBLAS_STATUS_ALLOC_FAILED", 7: "CUBLAS_STATUS_INVALID_VALUE",
	8: "CUBLAS_STATUS_ARCH_MISMATCH", 11: "CUBLAS_STATUS_MAPPING_ERROR", 13: "CUBLAS_STATUS_EXECUTION_FAILED",
	14: "CUBLAS_STATUS_INTERNAL_ERROR", 15: "CUBLAS_STATUS_NOT_SUPPORTED", 16: "CUBLAS_STATUS_LICENSE_ERROR",
}

func ltError(fn string, s C.cublasStatus_t) error {
	if s == 0 {
		return nil
	}
	name := cublasStatusNames[int(s)]
	if n := C.lt_status_name(s); n != nil {
		name = C.GoString(n)
	}
	if name == "" {
		name = fmt.Sprintf("status %d", int(s))
	}
	return fmt.Errorf("%s: %s", fn, name)
}

var (
	ltMu   sync.Mutex
	ltPath string // the library loaded, once loaded; a process keeps it
)

// cublasLtCandidates are tried in order when no path is given: the loader's
// search path (ldconfig, as a driver or toolkit install leaves it) and the
// toolkit's default prefix, which ldconfig often does not list.
func cublasLtCandidates() []string {
	arch := map[string]string{"amd64": "x86_64-linux", "arm64": "sbsa-linux"}[runtime.GOARCH]
	var out []string
	for _, v := range []string{"12", "11"} {
		out = append(out, "libcublasLt.so."+v, "/usr/local/cuda/lib64/libcublasLt.so."+v)
		if arch != "" {
			out = append(out, "/usr/local/cuda/targets/"+arch+"/lib/libcublasLt.so."+v)
		}
	}
	return out
}

// openCublasLt loads cuBLASLt from path, or from the first candidate that
// loads, once per process.
func openCublasLt(path string) (string, error) {
	ltMu.Lock()
	defer ltMu.Unlock()
	if ltPath != "" {
		if path != "" && path != ltPath {
			return "", fmt.Errorf("cuBLASLt is already loaded from %s; restart the plugin to use %s", ltPath, path)
		}
		return ltPath, nil
	}
	candidates := cublasLtCandidates()
	if path != "" {
		candidates = []string{path}
	}
	var errs []string
	for _, c := range candidates {
		cs := C.CString(c)
		r := C.lt_load(cs)
		C.free(unsafe.Pointer(cs))
		if r == 0 {
			ltPath = c
			return c, nil
		}
		errs = append(errs, C.GoString(C.lt_last_error()))
	}
	msg := "cuBLASLt not found: " + strings.Join(errs, "; ")
	if path == "" {
		msg += `; give its path with the parameter cublaslt (e.g. a PyTorch install's nvidia/cublas/lib/libcublasLt.so.12)`
	}
	return "", errors.New(msg)
}

func cublasLtVersion() string {
	v := int(C.lt_version())
	return fmt.Sprintf("%d.%d.%d", v/10000, v/100%100, v%100)
}

// gemmPlan is a prepared GEMM; its C memory holds the cuBLASLt objects.
type gemmPlan struct {
	p *C.lt_plan
}

func newGemmPlan(t gemmType, m, n, k, workspace int64, want int) (*gemmPlan, error) {
	p := (*C.lt_plan)(C.calloc(1, C.size_t(unsafe.Sizeof(C.lt_plan{}))))
	if p == nil {
		return nil, errors.New("out of host memory")
	}
	plan := &gemmPlan{p: p}
	s := C.lt_plan_init(p, C.int(t.compute), C.int(t.abType), C.int(t.cdType),
		C.uint64_t(m), C.uint64_t(n), C.uint64_t(k), C.uint64_t(workspace), C.int(want))
	if s != 0 {
		err := ltError(C.GoString(p.failed), s)
		plan.destroy()
		return nil, err
	}
	return plan, nil
}

// candidates is how many algorithms cuBLASLt proposed; see usable.
func (pl *gemmPlan) candidates() int { return int(pl.p.nresults) }

func (pl *gemmPlan) usable(i int) bool { return C.lt_algo_ok(pl.p, C.int(i)) != 0 }

func (pl *gemmPlan) matmul(g *gpu, algo int, a, b, d, ws devPtr, wsSize int64) error {
	return ltError("cublasLtMatmul", C.lt_matmul(pl.p, C.int(algo), a, b, d,
		ws, C.size_t(wsSize), unsafe.Pointer(g.stream)))
}

func (pl *gemmPlan) destroy() {
	C.lt_plan_destroy(pl.p)
	C.free(unsafe.Pointer(pl.p))
}
