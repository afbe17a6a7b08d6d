/*
 * Our own declarations of NCCL's profiler plugin interface, versions 1 to 5,
 * written from the layouts documented in NCCL's ext-profiler/example/nccl/
 * headers (profiler_v1.h .. profiler_v5.h, NCCL 2.23 through 2.28). Only the
 * ABI matters: field order, types and enum values must match exactly, since
 * NCCL hands us pointers to its own structs. No NCCL or CUDA header is needed.
 */
#ifndef ACCELTEL_NCCL_PROFILER_API_H
#define ACCELTEL_NCCL_PROFILER_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef int ncclResult_t; /* ncclSuccess is 0 */
#define ncclSuccess 0

typedef void (*ncclDebugLogger_t)(int level, unsigned long flags, const char *file, int line,
                                  const char *fmt, ...);

enum {
  ncclProfileGroup = (1 << 0),
  ncclProfileColl = (1 << 1),
  ncclProfileP2p = (1 << 2),
  ncclProfileProxyOp = (1 << 3),
  ncclProfileProxyStep = (1 << 4),
  ncclProfileProxyCtrl = (1 << 5),
  ncclProfileKernelCh = (1 << 6),   /* v3+ */
  ncclProfileNetPlugin = (1 << 7),  /* v3+ */
  ncclProfileGroupApi = (1 << 8),   /* v5 */
  ncclProfileCollApi = (1 << 9),    /* v5 */
  ncclProfileP2pApi = (1 << 10),    /* v5 */
  ncclProfileKernelLaunch = (1 << 11), /* v5 */
};

/* One enum for every version; values are fixed by NCCL. */
typedef int ncclProfilerEventState_t;
#define ncclProfilerProxyOpSendDone 3
#define ncclProfilerProxyOpRecvDone 7
#define ncclProfilerKernelChStop 22

/* ---- v1 (NCCL 2.23): numeric func/datatype/algo/proto ---- */
typedef struct {
  uint8_t type;
  void *parentObj;
  int rank;
  union {
    struct {
      const char *name; uint64_t commHash; uint64_t seqNumber; uint8_t func;
      void const *sendBuff; void *recvBuff; size_t count; int root; uint8_t datatype;
      uint32_t op; size_t trafficBytes; uint8_t nMaxChannels; uint8_t nWarps;
      uint8_t algo; uint8_t proto; int isCollnet; int isNvls;
    } coll;
    struct {
      const char *name; uint64_t commHash; uint8_t func; void *buff; uint8_t datatype;
      size_t count; int peer;
    } p2p;
    struct { pid_t pid; uint8_t channelId; int peer; int nSteps; int chunkSize; int isSend; } proxyOp;
    struct { int step; } proxyStep;
  };
} ncclProfilerEventDescr_v1_t;

/* ---- v2 (NCCL 2.24): strings instead of numbers ---- */
typedef struct {
  uint8_t type;
  void *parentObj;
  int rank;
  union {
    struct {
      const char *name; uint64_t commHash; uint64_t seqNumber; const char *func;
      void const *sendBuff; void *recvBuff; size_t count; int root; const char *datatype;
      size_t trafficBytes; uint8_t nMaxChannels; uint8_t nWarps; const char *algo; const char *proto;
    } coll;
    struct {
      const char *name; uint64_t commHash; const char *func; void *buff; const char *datatype;
      size_t count; int peer;
    } p2p;
    struct { pid_t pid; uint8_t channelId; int peer; int nSteps; int chunkSize; int isSend; } proxyOp;
    struct { int step; } proxyStep;
  };
} ncclProfilerEventDescr_v2_t;

/* ---- v3 (NCCL 2.25): kernel channel events, no trafficBytes ---- */
typedef struct {
  uint8_t type;
  void *parentObj;
  int rank;
  union {
    struct {
      const char *name; uint64_t commHash; uint64_t seqNumber; const char *func;
      void const *sendBuff; void *recvBuff; size_t count; int root; const char *datatype;
      uint8_t nMaxChannels; uint8_t nWarps; const char *algo; const char *proto;
    } coll;
    struct {
      const char *name; uint64_t commHash; const char *func; void *buff; const char *datatype;
      size_t count; int peer;
    } p2p;
    struct { pid_t pid; uint8_t channelId; int peer; int nSteps; int chunkSize; int isSend; } proxyOp;
    struct { int step; } proxyStep;
    struct { uint8_t channelId; } kernelCh;
    struct { int64_t id; void *data; } netPlugin;
  };
} ncclProfilerEventDescr_v3_t;

typedef union {
  struct { size_t transSize; int steps; } proxyOp;
  struct { int appendedProxyOps; } proxyCtrl;
} ncclProfilerEventStateArgs_v1_t; /* same for v1..v3 */

/* ---- v4 (NCCL 2.26): comm info moves to init, GPU timers on kernel channels ---- */
typedef struct {
  uint8_t type;
  void *parentObj;
  int rank;
  union {
    struct {
      uint64_t seqNumber; const char *func; void const *sendBuff; void *recvBuff; size_t count;
      int root; const char *datatype; uint8_t nChannels; uint8_t nWarps; const char *algo;
      const char *proto;
    } coll;
    struct {
      const char *func; void *buff; const char *datatype; size_t count; int peer; uint8_t nChannels;
    } p2p;
    struct { pid_t pid; uint8_t channelId; int peer; int nSteps; int chunkSize; int isSend; } proxyOp;
    struct { int step; } proxyStep;
    struct { uint8_t channelId; uint64_t pTimer; } kernelCh;
    struct { int64_t id; void *data; } netPlugin;
  };
} ncclProfilerEventDescr_v4_t;

/* ---- v5 (NCCL 2.28): 64-bit type, API events, parentGroup kept for v4 ---- */
typedef struct {
  uint64_t type;
  void *parentObj;
  int rank;
  union {
    struct { int graphCaptured; int groupDepth; } groupApi;
    struct { const char *func; size_t count; const char *datatype; int root; void *stream; bool graphCaptured; } collApi;
    struct { const char *func; size_t count; const char *datatype; void *stream; bool graphCaptured; } p2pApi;
    struct { void *stream; } kernelLaunch;
    struct {
      uint64_t seqNumber; const char *func; void const *sendBuff; void *recvBuff; size_t count;
      int root; const char *datatype; uint8_t nChannels; uint8_t nWarps; const char *algo;
      const char *proto; void *parentGroup;
    } coll;
    struct {
      const char *func; void *buff; const char *datatype; size_t count; int peer; uint8_t nChannels;
      void *parentGroup;
    } p2p;
    struct { pid_t pid; uint8_t channelId; int peer; int nSteps; int chunkSize; int isSend; } proxyOp;
    struct { int step; } proxyStep;
    struct { uint8_t channelId; uint64_t pTimer; } kernelCh;
    struct { int64_t id; void *data; } netPlugin;
  };
} ncclProfilerEventDescr_v5_t;

typedef union {
  struct { size_t transSize; } proxyStep;
  struct { int appendedProxyOps; } proxyCtrl;
  struct { void *data; } netPlugin;
  struct { uint64_t pTimer; } kernelCh;
} ncclProfilerEventStateArgs_v4_t; /* same for v5 */
typedef ncclProfilerEventStateArgs_v4_t ncclProfilerEventStateArgs_v5_t;

#define NCCL_PROFILER_COMMON(descr_t, args_t)                                                      \
  ncclResult_t (*startEvent)(void *context, void **eHandle, descr_t *eDescr);                     \
  ncclResult_t (*stopEvent)(void *eHandle);                                                       \
  ncclResult_t (*recordEventState)(void *eHandle, ncclProfilerEventState_t eState, args_t *args); \
  ncclResult_t (*finalize)(void *context);

typedef struct {
  const char *name;
  ncclResult_t (*init)(void **context, int *eActivationMask);
  NCCL_PROFILER_COMMON(ncclProfilerEventDescr_v1_t, ncclProfilerEventStateArgs_v1_t)
} ncclProfiler_v1_t;
typedef struct {
  const char *name;
  ncclResult_t (*init)(void **context, int *eActivationMask);
  NCCL_PROFILER_COMMON(ncclProfilerEventDescr_v2_t, ncclProfilerEventStateArgs_v1_t)
} ncclProfiler_v2_t;
typedef struct {
  const char *name;
  ncclResult_t (*init)(void **context, int *eActivationMask);
  NCCL_PROFILER_COMMON(ncclProfilerEventDescr_v3_t, ncclProfilerEventStateArgs_v1_t)
} ncclProfiler_v3_t;
typedef struct {
  const char *name;
  ncclResult_t (*init)(void **context, int *eActivationMask, const char *commName, uint64_t commHash,
                       int nNodes, int nranks, int rank, ncclDebugLogger_t logfn);
  NCCL_PROFILER_COMMON(ncclProfilerEventDescr_v4_t, ncclProfilerEventStateArgs_v4_t)
} ncclProfiler_v4_t;
typedef struct {
  const char *name;
  ncclResult_t (*init)(void **context, uint64_t commId, int *eActivationMask, const char *commName,
                       int nNodes, int nranks, int rank, ncclDebugLogger_t logfn);
  NCCL_PROFILER_COMMON(ncclProfilerEventDescr_v5_t, ncclProfilerEventStateArgs_v5_t)
} ncclProfiler_v5_t;

#endif
