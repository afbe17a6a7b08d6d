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
#include <time.h>

// The driver API types this plugin uses, as cuda.h declares them. No CUDA
// headers are needed to build: the functions are looked up at run time.
typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef struct { char bytes[16]; } CUuuid;

static void *cu_lib;
static char cu_err[512];
static const char *cu_last_error(void) { return cu_err; }

static CUresult (*p_cuInit)(unsigned int);
static CUresult (*p_cuDriverGetVersion)(int *);
static CUresult (*p_cuGetErrorName)(CUresult, const char **);
static CUresult (*p_cuGetErrorString)(CUresult, const char **);
static CUresult (*p_cuDeviceGetCount)(int *);
static CUresult (*p_cuDeviceGet)(CUdevice *, int);
static CUresult (*p_cuDeviceGetName)(char *, int, CUdevice);
static CUresult (*p_cuDeviceGetUuid)(CUuuid *, CUdevice);
static CUresult (*p_cuDeviceGetAttribute)(int *, int, CUdevice);
static CUresult (*p_cuDeviceTotalMem)(size_t *, CUdevice);
static CUresult (*p_cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
static CUresult (*p_cuDevicePrimaryCtxRelease)(CUdevice);
static CUresult (*p_cuCtxSetCurrent)(CUcontext);
static CUresult (*p_cuModuleLoadDataEx)(CUmodule *, const void *, unsigned int, int *, void **);
static CUresult (*p_cuModuleUnload)(CUmodule);
static CUresult (*p_cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
static CUresult (*p_cuMemAlloc)(CUdeviceptr *, size_t);
static CUresult (*p_cuMemFree)(CUdeviceptr);
static CUresult (*p_cuMemHostAlloc)(void **, size_t, unsigned int);
static CUresult (*p_cuMemFreeHost)(void *);
static CUresult (*p_cuMemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
static CUresult (*p_cuMemcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
static CUresult (*p_cuMemcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
static CUresult (*p_cuMemsetD32Async)(CUdeviceptr, unsigned int, size_t, CUstream);
static CUresult (*p_cuLaunchKernel)(CUfunction, unsigned int, unsigned int, unsigned int, unsigned int, unsigned int,
                                    unsigned int, unsigned int, CUstream, void **, void **);
static CUresult (*p_cuStreamCreate)(CUstream *, unsigned int);
static CUresult (*p_cuStreamSynchronize)(CUstream);
static CUresult (*p_cuStreamDestroy)(CUstream);
static CUresult (*p_cuEventCreate)(CUevent *, unsigned int);
static CUresult (*p_cuEventRecord)(CUevent, CUstream);
static CUresult (*p_cuEventSynchronize)(CUevent);
static CUresult (*p_cuEventElapsedTime)(float *, CUevent, CUevent);
static CUresult (*p_cuEventDestroy)(CUevent);

static int cu_sym(void **dst, const char *name, int required) {
	dlerror();
	*dst = dlsym(cu_lib, name);
	if (*dst == NULL && required) {
		const char *e = dlerror();
		snprintf(cu_err, sizeof cu_err, "%s", e ? e : name);
		return -1;
	}
	return 0;
}

#define SYM(var, name) if (cu_sym((void **)&var, name, 1)) goto fail

// cu_load opens the driver and finds every function, or none: a missing
// symbol fails here with its name instead of crashing on a NULL call later.
// The _v2 names are what cuda.h maps the plain names to since CUDA 4.0.
static int cu_load(const char *path) {
	cu_lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (cu_lib == NULL) {
		const char *e = dlerror();
		snprintf(cu_err, sizeof cu_err, "%s", e ? e : path);
		return -1;
	}
	SYM(p_cuInit, "cuInit");
	SYM(p_cuDriverGetVersion, "cuDriverGetVersion");
	SYM(p_cuGetErrorName, "cuGetErrorName");
	SYM(p_cuGetErrorString, "cuGetErrorString");
	SYM(p_cuDeviceGetCount, "cuDeviceGetCount");
	SYM(p_cuDeviceGet, "cuDeviceGet");
	SYM(p_cuDeviceGetName, "cuDeviceGetName");
	// cuDeviceGetUuid_v2 (CUDA 11.4) also gives MIG instances their own UUID.
	cu_sym((void **)&p_cuDeviceGetUuid, "cuDeviceGetUuid_v2", 0);
	if (p_cuDeviceGetUuid == NULL) SYM(p_cuDeviceGetUuid, "cuDeviceGetUuid");
	SYM(p_cuDeviceGetAttribute, "cuDeviceGetAttribute");
	SYM(p_cuDeviceTotalMem, "cuDeviceTotalMem_v2");
	SYM(p_cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
	SYM(p_cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2");
	SYM(p_cuCtxSetCurrent, "cuCtxSetCurrent");
	SYM(p_cuModuleLoadDataEx, "cuModuleLoadDataEx");
	SYM(p_cuModuleUnload, "cuModuleUnload");
	SYM(p_cuModuleGetFunction, "cuModuleGetFunction");
	SYM(p_cuMemAlloc, "cuMemAlloc_v2");
	SYM(p_cuMemFree, "cuMemFree_v2");
	SYM(p_cuMemHostAlloc, "cuMemHostAlloc");
	SYM(p_cuMemFreeHost, "cuMemFreeHost");
	SYM(p_cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
	SYM(p_cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
	SYM(p_cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2");
	SYM(p_cuMemsetD32Async, "cuMemsetD32Async");
	SYM(p_cuLaunchKernel, "cuLaunchKernel");
	SYM(p_cuStreamCreate, "cuStreamCreate");
	SYM(p_cuStreamSynchronize, "cuStreamSynchronize");
	SYM(p_cuStreamDestroy, "cuStreamDestroy_v2");
	SYM(p_cuEventCreate, "cuEventCreate");
	SYM(p_cuEventRecord, "cuEventRecord");
	SYM(p_cuEventSynchronize, "cuEventSynchronize");
	SYM(p_cuEventElapsedTime, "cuEventElapsedTime");
	SYM(p_cuEventDestroy, "cuEventDestroy_v2");
	return 0;
fail:
	dlclose(cu_lib);
	cu_lib = NULL;
	return -1;
}

static const char *cu_error_name(CUresult r) {
	const char *s = NULL;
	return p_cuGetErrorName(r, &s) == 0 ? s : NULL;
}
static const char *cu_error_string(CUresult r) {
	const char *s = NULL;
	return p_cuGetErrorString(r, &s) == 0 ? s : NULL;
}

static CUresult cu_init(void) { return p_cuInit(0); }
static CUresult cu_driver_version(int *v) { return p_cuDriverGetVersion(v); }
static CUresult cu_device_count(int *n) { return p_cuDeviceGetCount(n); }
static CUresult cu_device_get(CUdevice *d, int i) { return p_cuDeviceGet(d, i); }
static CUresult cu_device_name(char *s, int n, CUdevice d) { return p_cuDeviceGetName(s, n, d); }
static CUresult cu_device_uuid(unsigned char *out, CUdevice d) {
	CUuuid u;
	CUresult r = p_cuDeviceGetUuid(&u, d);
	if (r == 0) memcpy(out, u.bytes, 16);
	return r;
}
static CUresult cu_device_attribute(int *v, int attr, CUdevice d) { return p_cuDeviceGetAttribute(v, attr, d); }
static CUresult cu_device_total_mem(size_t *v, CUdevice d) { return p_cuDeviceTotalMem(v, d); }
static CUresult cu_primary_ctx_retain(CUcontext *c, CUdevice d) { return p_cuDevicePrimaryCtxRetain(c, d); }
static CUresult cu_primary_ctx_release(CUdevice d) { return p_cuDevicePrimaryCtxRelease(d); }
static CUresult cu_ctx_set_current(CUcontext c) { return p_cuCtxSetCurrent(c); }

// cu_module_load JIT-compiles PTX; the compiler's own message lands in log.
static CUresult cu_module_load(CUmodule *m, const char *ptx, char *log, unsigned int logSize) {
	int opts[2] = {5, 6}; // CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES
	void *vals[2] = {log, (void *)(uintptr_t)logSize};
	return p_cuModuleLoadDataEx(m, ptx, 2, opts, vals);
}
static CUresult cu_module_unload(CUmodule m) { return p_cuModuleUnload(m); }
static CUresult cu_module_function(CUfunction *f, CUmodule m, const char *name) { return p_cuModuleGetFunction(f, m, name); }
static CUresult cu_mem_alloc(CUdeviceptr *p, size_t n) { return p_cuMemAlloc(p, n); }
static CUresult cu_mem_free(CUdeviceptr p) { return p_cuMemFree(p); }
static CUresult cu_mem_host_alloc(void **p, size_t n) { return p_cuMemHostAlloc(p, n, 0); }
static CUresult cu_mem_free_host(void *p) { return p_cuMemFreeHost(p); }
static CUresult cu_htod(CUdeviceptr d, const void *h, size_t n, CUstream s) { return p_cuMemcpyHtoDAsync(d, h, n, s); }
static CUresult cu_dtoh(void *h, CUdeviceptr d, size_t n, CUstream s) { return p_cuMemcpyDtoHAsync(h, d, n, s); }
static CUresult cu_dtod(CUdeviceptr d, CUdeviceptr src, size_t n, CUstream s) { return p_cuMemcpyDtoDAsync(d, src, n, s); }
static CUresult cu_memset32(CUdeviceptr d, unsigned int v, size_t n, CUstream s) { return p_cuMemsetD32Async(d, v, n, s); }
static CUresult cu_stream_create(CUstream *s) { return p_cuStreamCreate(s, 1); } // CU_STREAM_NON_BLOCKING
static CUresult cu_stream_sync(CUstream s) { return p_cuStreamSynchronize(s); }
static CUresult cu_stream_destroy(CUstream s) { return p_cuStreamDestroy(s); }
static CUresult cu_event_create(CUevent *e) { return p_cuEventCreate(e, 0); } // CU_EVENT_DEFAULT: timing on
static CUresult cu_event_record(CUevent e, CUstream s) { return p_cuEventRecord(e, s); }
static CUresult cu_event_sync(CUevent e) { return p_cuEventSynchronize(e); }
static CUresult cu_event_elapsed(float *ms, CUevent a, CUevent b) { return p_cuEventElapsedTime(ms, a, b); }
static CUresult cu_event_destroy(CUevent e) { return p_cuEventDestroy(e); }

// Kernel arguments are built here, in C memory: cgo forbids handing C an
// array of pointers into Go memory.
static CUresult launch_copy(CUfunction f, unsigned int grid, unsigned int block, CUstream s,
                            CUdeviceptr dst, CUdeviceptr src, unsigned long long n) {
	void *args[] = {&dst, &src, &n};
	return p_cuLaunchKernel(f, grid, 1, 1, block, 1, 1, 0, s, args, NULL);
}
static CUresult launch_triad(CUfunction f, unsigned int grid, unsigned int block, CUstream s,
                             CUdeviceptr a, CUdeviceptr b, CUdeviceptr c, double scalar, unsigned long long n) {
	void *args[] = {&a, &b, &c, &scalar, &n};
	return p_cuLaunchKernel(f, grid, 1, 1, block, 1, 1, 0, s, args, NULL);
}
// launch_empty launches count empty kernels back to back, without a cgo
// call between launches.
static CUresult launch_empty(CUfunction f, CUstream s, int count) {
	for (int i = 0; i < count; i++) {
		CUresult r = p_cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, s, NULL, NULL);
		if (r != 0) return r;
	}
	return 0;
}
// roundtrip_empty times, count times, one empty launch until the host sees it
// complete, with the monotonic clock, in seconds.
static CUresult roundtrip_empty(CUfunction f, CUstream s, int count, double *out) {
	for (int i = 0; i < count; i++) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		CUresult r = p_cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, s, NULL, NULL);
		if (r == 0) r = p_cuStreamSynchronize(s);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (r != 0) return r;
		out[i] = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
	}
	return 0;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"unsafe"

	kernels "github.com/acceltel/acceltel/native/cuda"
)

// cudaError is a failed driver call: the function and the driver's words.
type cudaError struct {
	fn   string
	code int
}

func (e *cudaError) Error() string {
	name, desc := C.cu_error_name(C.CUresult(e.code)), C.cu_error_string(C.CUresult(e.code))
	if name == nil || desc == nil {
		return fmt.Sprintf("%s: CUDA error %d", e.fn, e.code)
	}
	return fmt.Sprintf("%s: %s (%s)", e.fn, C.GoString(desc), C.GoString(name))
}

// check turns a CUresult into an error naming the driver function.
func check(fn string, r C.CUresult) error {
	if r == 0 {
		return nil
	}
	return &cudaError{fn: fn, code: int(r)}
}

var (
	driverOnce sync.Once
	driverErr  error
)

// probe opens the driver and initializes it, once per process; the answer
// (nil, or why CUDA cannot be used) never changes afterwards.
func probe() error {
	driverOnce.Do(func() { driverErr = openDriver() })
	return driverErr
}

func openDriver() error {
	lib := "libcuda.so.1"
	if v := os.Getenv(libcudaEnv); v != "" {
		lib = v
	}
	cs := C.CString(lib)
	defer C.free(unsafe.Pointer(cs))
	if C.cu_load(cs) != 0 {
		msg := C.GoString(C.cu_last_error())
		if !strings.Contains(msg, lib) {
			msg = lib + ": " + msg
		}
		return errors.New(msg)
	}
	if err := check("cuInit", C.cu_init()); err != nil {
		return err
	}
	var n C.int
	if err := check("cuDeviceGetCount", C.cu_device_count(&n)); err != nil {
		return err
	}
	if n == 0 {
		return errors.New("the CUDA driver sees no device")
	}
	return nil
}

func deviceCount() (int, error) {
	var n C.int
	err := check("cuDeviceGetCount", C.cu_device_count(&n))
	return int(n), err
}

func driverVersion() string {
	var v C.int
	if C.cu_driver_version(&v) != 0 {
		return ""
	}
	return fmt.Sprintf("%d.%d", v/1000, v%1000/10)
}

// Device attributes (cuda.h CUdevice_attribute); their values are ABI.
const (
	attrMemoryClockRate      = 36 // kHz
	attrGlobalMemoryBusWidth = 37 // bits
	attrComputeCapMajor      = 75
	attrComputeCapMinor      = 76
)

// gpu is an open device: its primary context, current on the calling OS
// thread, one stream, and the kernels. Callers lock their OS thread first.
type gpu struct {
	info   deviceInfo
	dev    C.CUdevice
	ctx    C.CUcontext
	stream C.CUstream
	module C.CUmodule
	copyFn C.CUfunction
	triad  C.CUfunction
	empty  C.CUfunction
}

func openGPU(index int) (g *gpu, err error) {
	g = &gpu{}
	if err := check("cuDeviceGet", C.cu_device_get(&g.dev, C.int(index))); err != nil {
		return nil, err
	}
	if g.info, err = describeDevice(index, g.dev); err != nil {
		return nil, err
	}
	// The primary context is the one the CUDA runtime inside cuBLASLt uses,
	// so the GEMMs and our own calls share it.
	if err := check("cuDevicePrimaryCtxRetain", C.cu_primary_ctx_retain(&g.ctx, g.dev)); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			g.close()
		}
	}()
	if err := check("cuCtxSetCurrent", C.cu_ctx_set_current(g.ctx)); err != nil {
		return g, err
	}
	if err := check("cuStreamCreate", C.cu_stream_create(&g.stream)); err != nil {
		return g, err
	}
	if err := g.loadKernels(); err != nil {
		return g, err
	}
	return g, nil
}

func describeDevice(index int, dev C.CUdevice) (deviceInfo, error) {
	d := deviceInfo{index: index}
	var name [256]C.char
	if err := check("cuDeviceGetName", C.cu_device_name(&name[0], C.int(len(name)), dev)); err != nil {
		return d, err
	}
	d.name = C.GoString(&name[0])
	var u [16]C.uchar
	if err := check("cuDeviceGetUuid", C.cu_device_uuid(&u[0], dev)); err != nil {
		return d, err
	}
	b := C.GoBytes(unsafe.Pointer(&u[0]), 16)
	d.uuid = fmt.Sprintf("GPU-%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
	attr := func(a int) (int, error) {
		var v C.int
		err := check("cuDeviceGetAttribute", C.cu_device_attribute(&v, C.int(a), dev))
		return int(v), err
	}
	major, err := attr(attrComputeCapMajor)
	if err != nil {
		return d, err
	}
	minor, err := attr(attrComputeCapMinor)
	if err != nil {
		return d, err
	}
	d.cc = major*10 + minor
	// Clock and bus width only feed the fallback memory peak; a driver that
	// stops reporting them (they are deprecated) costs that peak, not the run.
	d.memClockKHz, _ = attr(attrMemoryClockRate)
	d.busWidthBits, _ = attr(attrGlobalMemoryBusWidth)
	var total C.size_t
	if err := check("cuDeviceTotalMem_v2", C.cu_device_total_mem(&total, dev)); err != nil {
		return d, err
	}
	d.totalMem = int64(total)
	return d, nil
}

func (g *gpu) loadKernels() error {
	ptx := C.CString(kernels.KernelsPTX)
	defer C.free(unsafe.Pointer(ptx))
	var log [4096]C.char
	if r := C.cu_module_load(&g.module, ptx, &log[0], C.uint(len(log))); r != 0 {
		err := check("cuModuleLoadDataEx", r)
		if msg := strings.TrimSpace(C.GoString(&log[0])); msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	for _, k := range []struct {
		name string
		dst  *C.CUfunction
	}{{kernels.KernelCopy, &g.copyFn}, {kernels.KernelTriad, &g.triad}, {kernels.KernelEmpty, &g.empty}} {
		cs := C.CString(k.name)
		// A local for the out parameter: cgo refuses a pointer into g,
		// which holds Go strings, unless it is written as &g.field.
		var fn C.CUfunction
		r := C.cu_module_function(&fn, g.module, cs)
		C.free(unsafe.Pointer(cs))
		if err := check("cuModuleGetFunction("+k.name+")", r); err != nil {
			return err
		}
		*k.dst = fn
	}
	return nil
}

// close releases what openGPU took; errors are moot by then.
func (g *gpu) close() {
	if g.stream != nil {
		C.cu_stream_sync(g.stream)
		C.cu_stream_destroy(g.stream)
	}
	if g.module != nil {
		C.cu_module_unload(g.module)
	}
	// Releasing the primary context frees its device memory for the
	// workloads this benchmark shares the GPU with, between runs.
	C.cu_primary_ctx_release(g.dev)
}

func (g *gpu) sync() error { return check("cuStreamSynchronize", C.cu_stream_sync(g.stream)) }

type devPtr = C.CUdeviceptr

func (g *gpu) alloc(n int64) (devPtr, error) {
	var p C.CUdeviceptr
	if err := check("cuMemAlloc_v2", C.cu_mem_alloc(&p, C.size_t(n))); err != nil {
		return 0, fmt.Errorf("%w (%d bytes on a device with %d)", err, n, g.info.totalMem)
	}
	return p, nil
}

func (g *gpu) free(p devPtr) {
	if p != 0 {
		C.cu_mem_free(p)
	}
}

func (g *gpu) allocHost(n int64) (unsafe.Pointer, error) {
	var p unsafe.Pointer
	if err := check("cuMemHostAlloc", C.cu_mem_host_alloc(&p, C.size_t(n))); err != nil {
		return nil, err
	}
	return p, nil
}

func (g *gpu) freeHost(p unsafe.Pointer) {
	if p != nil {
		C.cu_mem_free_host(p)
	}
}

// upload fills dst (n bytes) with pattern repeated. Asynchronous copies from
// pageable memory are staged before they return, so the Go buffer is free
// again at once, and they are ordered on the stream with what follows.
func (g *gpu) upload(dst devPtr, n int64, pattern []byte) error {
	for off := int64(0); off < n; off += int64(len(pattern)) {
		c := min(int64(len(pattern)), n-off)
		if err := check("cuMemcpyHtoDAsync_v2", C.cu_htod(dst+C.CUdeviceptr(off), unsafe.Pointer(&pattern[0]), C.size_t(c), g.stream)); err != nil {
			return err
		}
	}
	return g.sync()
}

func (g *gpu) memset32(dst devPtr, v uint32, words int64) error {
	return check("cuMemsetD32Async", C.cu_memset32(dst, C.uint(v), C.size_t(words), g.stream))
}

func (g *gpu) copyDtoD(dst, src devPtr, n int64) error {
	return check("cuMemcpyDtoDAsync_v2", C.cu_dtod(dst, src, C.size_t(n), g.stream))
}

func (g *gpu) copyHtoD(dst devPtr, src unsafe.Pointer, n int64) error {
	return check("cuMemcpyHtoDAsync_v2", C.cu_htod(dst, src, C.size_t(n), g.stream))
}

func (g *gpu) copyDtoH(dst unsafe.Pointer, src devPtr, n int64) error {
	return check("cuMemcpyDtoHAsync_v2", C.cu_dtoh(dst, src, C.size_t(n), g.stream))
}

// The bandwidth kernels run one 256-thread block per 256 elements: enough
// blocks in flight to cover memory latency on any GPU, and no loop overhead.
const blockSize = 256

func gridFor(n int64) C.uint {
	return C.uint(min((n+blockSize-1)/blockSize, 1<<31-1))
}

func (g *gpu) launchCopy(dst, src devPtr, elems int64) error {
	return check("cuLaunchKernel(copy16)",
		C.launch_copy(g.copyFn, gridFor(elems), blockSize, g.stream, dst, src, C.ulonglong(elems)))
}

func (g *gpu) launchTriad(a, b, c devPtr, s float64, elems int64) error {
	return check("cuLaunchKernel(triad)",
		C.launch_triad(g.triad, gridFor(elems), blockSize, g.stream, a, b, c, C.double(s), C.ulonglong(elems)))
}

func (g *gpu) launchEmpty(count int) error {
	return check("cuLaunchKernel(empty)", C.launch_empty(g.empty, g.stream, C.int(count)))
}

// roundtrips returns count host-observed launch-to-completion times.
func (g *gpu) roundtrips(count int) ([]float64, error) {
	out := make([]float64, count)
	err := check("cuLaunchKernel(empty)+cuStreamSynchronize",
		C.roundtrip_empty(g.empty, g.stream, C.int(count), (*C.double)(unsafe.Pointer(&out[0]))))
	return out, err
}

// events is a series of timing events on the gpu's stream.
type events []C.CUevent

func (g *gpu) newEvents(n int) (events, error) {
	evs := make(events, 0, n)
	for range n {
		var e C.CUevent
		if err := check("cuEventCreate", C.cu_event_create(&e)); err != nil {
			evs.destroy()
			return nil, err
		}
		evs = append(evs, e)
	}
	return evs, nil
}

func (evs events) destroy() {
	for _, e := range evs {
		C.cu_event_destroy(e)
	}
}

func (g *gpu) record(e C.CUevent) error {
	return check("cuEventRecord", C.cu_event_record(e, g.stream))
}

// elapsed waits for b and returns the GPU time from a to b in seconds.
func elapsed(a, b C.CUevent) (float64, error) {
	if err := check("cuEventSynchronize", C.cu_event_sync(b)); err != nil {
		return 0, err
	}
	var ms C.float
	if err := check("cuEventElapsedTime", C.cu_event_elapsed(&ms, a, b)); err != nil {
		return 0, err
	}
	return float64(ms) / 1e3, nil
}
