// A stand-in for libcuda.so.1 and libcublasLt.so.12 in one library, so that
// the plugin's dynamic loading, calls, timing arithmetic, error paths and
// cleanup run in tests on machines without a GPU. It computes nothing: a
// virtual clock advances by a fixed rate for each operation enqueued, and
// events read that clock, so the figures the plugin reports are known.
//
//   FAKECUDA_CC      compute capability as major*10+minor (default 90)
//   FAKECUDA_FAIL    name of one function that fails (CUDA_ERROR_OUT_OF_MEMORY
//                    or CUBLAS_STATUS_NOT_SUPPORTED)
//   FAKECUDA_REPORT  file to which each primary context release appends what
//                    is still allocated, for leak checks
//
// Rates of the fake GPU: device memory 2e12 By/s, host link 25e9 By/s, 2 us
// per empty kernel, GEMM 500e12 FLOP/s with the first algorithm and 600e12
// with the second.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;

static double now;                 // the virtual GPU clock, seconds
static long allocs, events, streams, modules, hostallocs, ltobjs, ctxrefs;
static uintptr_t next_ptr = 0x100000000;

static int fails(const char *name) {
	const char *f = getenv("FAKECUDA_FAIL");
	return f != NULL && strcmp(f, name) == 0;
}
#define FAIL_CU(name) if (fails(name)) return 2   // CUDA_ERROR_OUT_OF_MEMORY
#define FAIL_LT(name) if (fails(name)) return 15  // CUBLAS_STATUS_NOT_SUPPORTED

CUresult cuInit(unsigned int flags) { FAIL_CU("cuInit"); return flags == 0 ? 0 : 1; }
CUresult cuDriverGetVersion(int *v) { *v = 12040; return 0; }
CUresult cuGetErrorName(CUresult r, const char **s) {
	if (r == 2) { *s = "CUDA_ERROR_OUT_OF_MEMORY"; return 0; }
	if (r == 1) { *s = "CUDA_ERROR_INVALID_VALUE"; return 0; }
	return 1;
}
CUresult cuGetErrorString(CUresult r, const char **s) {
	if (r == 2) { *s = "out of memory"; return 0; }
	if (r == 1) { *s = "invalid argument"; return 0; }
	return 1;
}
CUresult cuDeviceGetCount(int *n) { *n = 1; return 0; }
CUresult cuDeviceGet(int *d, int i) { if (i != 0) return 101; *d = 0; return 0; }
CUresult cuDeviceGetName(char *s, int n, int d) { (void)d; snprintf(s, n, "NVIDIA H100 80GB HBM3"); return 0; }
CUresult cuDeviceGetUuid_v2(char *u, int d) { (void)d; for (int i = 0; i < 16; i++) u[i] = (char)(0xa0 + i); return 0; }
CUresult cuDeviceGetAttribute(int *v, int attr, int d) {
	(void)d;
	const char *cc = getenv("FAKECUDA_CC");
	int c = cc ? atoi(cc) : 90;
	switch (attr) {
	case 16: *v = 132; return 0;
	case 36: *v = 2619000; return 0;
	case 37: *v = 5120; return 0;
	case 75: *v = c / 10; return 0;
	case 76: *v = c % 10; return 0;
	}
	return 1;
}
CUresult cuDeviceTotalMem_v2(size_t *v, int d) { (void)d; *v = (size_t)80 << 30; return 0; }

static FILE *report(void) {
	const char *p = getenv("FAKECUDA_REPORT");
	return p ? fopen(p, "a") : NULL;
}
CUresult cuDevicePrimaryCtxRetain(void **c, int d) { (void)d; *c = (void *)0x1; ctxrefs++; return 0; }
CUresult cuDevicePrimaryCtxRelease_v2(int d) {
	(void)d;
	ctxrefs--;
	FILE *f = report();
	if (f) {
		fprintf(f, "allocs=%ld events=%ld streams=%ld modules=%ld host=%ld cublaslt=%ld contexts=%ld\n", allocs, events,
		        streams, modules, hostallocs, ltobjs, ctxrefs);
		fclose(f);
	}
	return 0;
}
CUresult cuCtxSetCurrent(void *c) { return c ? 0 : 1; }

enum { F_COPY = 1, F_TRIAD, F_EMPTY };
CUresult cuModuleLoadDataEx(void **m, const char *ptx, unsigned int n, int *opts, void **vals) {
	FAIL_CU("cuModuleLoadDataEx");
	// The options must be the error log: fill it as the JIT would.
	if (n != 2 || opts[0] != 5 || opts[1] != 6) return 1;
	if (strncmp(ptx, "//", 2) != 0 || strstr(ptx, ".target sm_80") == NULL) {
		snprintf((char *)vals[0], (size_t)(uintptr_t)vals[1], "ptxas fatal: not the expected PTX");
		return 218; // CUDA_ERROR_INVALID_PTX
	}
	*m = (void *)0x2;
	modules++;
	return 0;
}
CUresult cuModuleUnload(void *m) { (void)m; modules--; return 0; }
CUresult cuModuleGetFunction(uintptr_t *f, void *m, const char *name) {
	(void)m;
	if (strcmp(name, "copy16") == 0) *f = F_COPY;
	else if (strcmp(name, "triad") == 0) *f = F_TRIAD;
	else if (strcmp(name, "empty") == 0) *f = F_EMPTY;
	else return 500; // CUDA_ERROR_NOT_FOUND
	return 0;
}
CUresult cuMemAlloc_v2(unsigned long long *p, size_t n) {
	FAIL_CU("cuMemAlloc_v2");
	*p = next_ptr;
	next_ptr += (n + 255) & ~(size_t)255;
	allocs++;
	return 0;
}
CUresult cuMemFree_v2(unsigned long long p) { (void)p; allocs--; return 0; }
CUresult cuMemHostAlloc(void **p, size_t n, unsigned int flags) {
	(void)flags;
	FAIL_CU("cuMemHostAlloc");
	*p = malloc(n);
	hostallocs++;
	return *p ? 0 : 2;
}
CUresult cuMemFreeHost(void *p) { free(p); hostallocs--; return 0; }
CUresult cuMemcpyHtoDAsync_v2(unsigned long long d, const void *h, size_t n, void *s) {
	(void)d; (void)h; (void)s;
	now += (double)n / 25e9;
	return 0;
}
CUresult cuMemcpyDtoHAsync_v2(void *h, unsigned long long d, size_t n, void *s) {
	(void)d; (void)h; (void)s;
	now += (double)n / 25e9;
	return 0;
}
CUresult cuMemcpyDtoDAsync_v2(unsigned long long d, unsigned long long src, size_t n, void *s) {
	(void)d; (void)src; (void)s;
	now += 2.0 * (double)n / 2e12;
	return 0;
}
CUresult cuMemsetD32Async(unsigned long long d, unsigned int v, size_t n, void *s) {
	(void)d; (void)v; (void)s;
	now += 4.0 * (double)n / 2e12;
	return 0;
}
CUresult cuLaunchKernel(uintptr_t f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shmem, void *s, void **args, void **extra) {
	(void)s; (void)extra;
	FAIL_CU("cuLaunchKernel");
	if (gy != 1 || gz != 1 || by != 1 || bz != 1 || shmem != 0) return 1;
	switch (f) {
	case F_COPY: {
		unsigned long long n = *(unsigned long long *)args[2];
		if (bx != 256 || (unsigned long long)gx * bx < n) return 1; // a thread per element
		now += 2.0 * 16 * (double)n / 2e12;
		return 0;
	}
	case F_TRIAD: {
		double scalar = *(double *)args[3];
		unsigned long long n = *(unsigned long long *)args[4];
		if (scalar != 3.0 || bx != 256 || (unsigned long long)gx * bx < n) return 1;
		now += 3.0 * 16 * (double)n / 2e12;
		return 0;
	}
	case F_EMPTY:
		if (args != NULL || gx != 1 || bx != 1) return 1;
		now += 2e-6;
		return 0;
	}
	return 400; // CUDA_ERROR_INVALID_HANDLE
}
CUresult cuStreamCreate(void **s, unsigned int flags) { if (flags != 1) return 1; *s = (void *)0x3; streams++; return 0; }
CUresult cuStreamSynchronize(void *s) { return s ? 0 : 1; }
CUresult cuStreamDestroy_v2(void *s) { (void)s; streams--; return 0; }
CUresult cuEventCreate(double **e, unsigned int flags) {
	if (flags != 0) return 1;
	*e = malloc(sizeof(double));
	**e = -1;
	events++;
	return 0;
}
CUresult cuEventRecord(double *e, void *s) { (void)s; *e = now; return 0; }
CUresult cuEventSynchronize(double *e) { return *e < 0 ? 1 : 0; }
CUresult cuEventElapsedTime(float *ms, double *a, double *b) {
	if (*a < 0 || *b < 0) return 1;
	*ms = (float)((*b - *a) * 1e3);
	return 0;
}
CUresult cuEventDestroy_v2(double *e) { free(e); events--; return 0; }

// cuBLASLt.
typedef int cublasStatus_t;
typedef struct { int compute, scale, transa, transb; } desc_t;
typedef struct { int type; uint64_t rows, cols; int64_t ld; } layout_t;
typedef struct { uint64_t workspace; } pref_t;
typedef struct { uint64_t data[8]; } algo_t;
typedef struct { algo_t algo; size_t workspaceSize; cublasStatus_t state; float wavesCount; int reserved[4]; } result_t;

size_t cublasLtGetVersion(void) { return 120304; }
cublasStatus_t cublasLtCreate(void **h) { FAIL_LT("cublasLtCreate"); *h = (void *)0x4; ltobjs++; return 0; }
cublasStatus_t cublasLtDestroy(void *h) { (void)h; ltobjs--; return 0; }
cublasStatus_t cublasLtMatmulDescCreate(desc_t **d, int compute, int scale) {
	*d = calloc(1, sizeof **d);
	(*d)->compute = compute;
	(*d)->scale = scale;
	ltobjs++;
	return 0;
}
cublasStatus_t cublasLtMatmulDescDestroy(desc_t *d) { free(d); ltobjs--; return 0; }
cublasStatus_t cublasLtMatmulDescSetAttribute(desc_t *d, int attr, const void *buf, size_t n) {
	if (n != sizeof(int)) return 7;
	if (attr == 3) d->transa = *(const int *)buf;
	else if (attr == 4) d->transb = *(const int *)buf;
	else return 7;
	return 0;
}
cublasStatus_t cublasLtMatrixLayoutCreate(layout_t **l, int type, uint64_t rows, uint64_t cols, int64_t ld) {
	if (ld < (int64_t)rows) return 7;
	*l = malloc(sizeof **l);
	**l = (layout_t){type, rows, cols, ld};
	ltobjs++;
	return 0;
}
cublasStatus_t cublasLtMatrixLayoutDestroy(layout_t *l) { free(l); ltobjs--; return 0; }
cublasStatus_t cublasLtMatmulPreferenceCreate(pref_t **p) { *p = calloc(1, sizeof **p); ltobjs++; return 0; }
cublasStatus_t cublasLtMatmulPreferenceDestroy(pref_t *p) { free(p); ltobjs--; return 0; }
cublasStatus_t cublasLtMatmulPreferenceSetAttribute(pref_t *p, int attr, const void *buf, size_t n) {
	if (attr != 1 || n != sizeof(uint64_t)) return 7;
	p->workspace = *(const uint64_t *)buf;
	return 0;
}
cublasStatus_t cublasLtMatmulAlgoGetHeuristic(void *h, desc_t *d, layout_t *a, layout_t *b, layout_t *c, layout_t *dd,
                                              pref_t *p, int want, result_t *res, int *got) {
	(void)h; (void)p;
	FAIL_LT("cublasLtMatmulAlgoGetHeuristic");
	// TN: A is k x m, B is k x n, D is m x n; the types must agree with D.
	if (d->transa != 1 || d->transb != 0 || c != dd || a->rows != b->rows || c->rows != a->cols || c->cols != b->cols)
		return 7;
	if (d->scale != 0) return 7;
	int n = want < 2 ? want : 2;
	for (int i = 0; i < n; i++) {
		memset(&res[i], 0, sizeof res[i]);
		res[i].algo.data[0] = (uint64_t)i;
	}
	*got = n;
	return 0;
}
cublasStatus_t cublasLtMatmul(void *h, desc_t *d, const float *alpha, const void *A, layout_t *ad, const void *B,
                              layout_t *bd, const float *beta, const void *C, layout_t *cd, void *D, layout_t *dd,
                              const algo_t *algo, void *ws, size_t wsSize, void *s) {
	(void)h; (void)d; (void)A; (void)B; (void)C; (void)D; (void)ws; (void)wsSize; (void)s; (void)bd;
	if (*alpha != 1.0f || *beta != 0.0f || cd != dd) return 7;
	double flops = 2.0 * (double)dd->rows * (double)dd->cols * (double)ad->rows;
	now += flops / (algo->data[0] == 1 ? 600e12 : 500e12);
	return 0;
}
