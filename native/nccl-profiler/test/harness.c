/*
 * Drives libnccl-profiler-acceltel.so the way NCCL does, without NCCL or a
 * GPU: per rank thread, one communicator (init), then collectives and sends
 * (start, stop = enqueued); a second "proxy" thread per rank completes each
 * one as NCCL's proxy progress thread does; then finalize. How it completes
 * depends on the interface version, as the plugin expects:
 *   v5, v4 (NCCL 2.26+): two kernel channels, each start (pTimer),
 *          recordEventState(KernelChStop, pTimer), stop;
 *   v3 (NCCL 2.25): two kernel channels, start and stop (no GPU timer);
 *   v2, v1 (NCCL 2.24, 2.23): proxy operations of this process (pid), one
 *          send and one receive per channel for a collective, one send per
 *          channel for a Send: start, recordEventState(Send/RecvDone), stop.
 * Before v4 the communicator travels with each event (commHash) and nranks
 * is unknown; v1 passes func, datatype, algorithm and protocol as NCCL's enum
 * values. v1..v3 collectives cycle through the five NCCL had as collectives
 * (no AllToAll). Every value is a function of (rank, i) so the receiver test
 * can check each record. Prints the plugin's host cost per callback.
 *
 * usage: harness PLUGIN.so VERSION(1..5) THREADS OPS [PACE_US]
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../nccl_profiler_api.h"

static int version, nthreads, nops, pace_us;
static ncclProfiler_v5_t *p5;
static ncclProfiler_v4_t *p4;
static ncclProfiler_v3_t *p3;
static ncclProfiler_v2_t *p2;
static ncclProfiler_v1_t *p1;
static pid_t my_pid;
static __thread int fake_dev = -1;
static double cost_ns[256];
static long calls[256];

/* The plugin asks the CUDA runtime for the device; -rdynamic exports this. */
int cudaGetDevice(int *dev) {
  *dev = fake_dev;
  return 0;
}

static const char *funcs[] = {"AllReduce", "AllGather", "ReduceScatter", "Broadcast", "Reduce", "AllToAll"};
/* v1: the same functions as NCCL's ncclFunc_t values (Broadcast 0, Reduce 1,
 * AllGather 2, ReduceScatter 3, AllReduce 4, Send 6); ncclFloat32 = 7,
 * ncclBfloat16 = 9; NCCL_ALGO_TREE = 0, NCCL_ALGO_RING = 1;
 * NCCL_PROTO_SIMPLE = 2. */
static const uint8_t v1_funcs[] = {4, 2, 3, 0, 1};
enum { V1_SEND = 6, V1_FLOAT32 = 7, V1_BFLOAT16 = 9, V1_TREE = 0, V1_RING = 1, V1_SIMPLE = 2 };

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* What a rank's thread does: fill a v4 or v5 descriptor (they differ only
 * in the width of type and v5's trailing parentGroup), start, stop, and hand
 * the operation to the proxy thread. */
#define RUN_OP(P, DESCR_T)                                                                 \
  do {                                                                                     \
    DESCR_T d;                                                                             \
    void *op = NULL;                                                                       \
    memset(&d, 0, sizeof(d));                                                              \
    d.rank = rank;                                                                         \
    if (p2p) {                                                                             \
      d.type = ncclProfileP2p;                                                             \
      d.p2p.func = "Send";                                                                 \
      d.p2p.count = count;                                                                 \
      d.p2p.datatype = "ncclBfloat16";                                                     \
      d.p2p.peer = (rank + 1) % 8;                                                         \
      d.p2p.nChannels = 2;                                                                 \
    } else {                                                                               \
      d.type = ncclProfileColl;                                                            \
      d.coll.seqNumber = (uint64_t)i;                                                      \
      d.coll.func = funcs[i % 6];                                                          \
      d.coll.count = count;                                                                \
      d.coll.datatype = "ncclFloat32";                                                     \
      d.coll.nChannels = 2;                                                                \
      d.coll.algo = (i & 1) ? "Tree" : "Ring";                                             \
      d.coll.proto = "Simple";                                                             \
    }                                                                                      \
    t0 = now();                                                                            \
    P->startEvent(ctx, &op, &d);                                                           \
    P->stopEvent(op); /* enqueued: not complete */                                         \
    spent += now() - t0;                                                                   \
    ncalls += 2;                                                                           \
    handoff(q, op, base, exec, p2p);                                                       \
  } while (0)

/* v1..v3: the communicator and its hash come with every event; the fields
 * differ in type (v1 numbers, v2/v3 strings) and v1/v2 carry trafficBytes,
 * which EXTRA fills. nMaxChannels is the channel count NCCL may use. */
#define RUN_OP_OLD(P, DESCR_T, FUNC, DTYPE, ALGO, PROTO, PFUNC, PDTYPE, EXTRA)                  \
  do {                                                                                     \
    DESCR_T d;                                                                             \
    void *op = NULL;                                                                       \
    memset(&d, 0, sizeof(d));                                                              \
    d.rank = rank;                                                                         \
    if (p2p) {                                                                             \
      d.type = ncclProfileP2p;                                                             \
      d.p2p.name = "harness";                                                              \
      d.p2p.commHash = comm;                                                               \
      d.p2p.func = PFUNC;                                                                  \
      d.p2p.count = count;                                                                 \
      d.p2p.datatype = PDTYPE;                                                             \
      d.p2p.peer = (rank + 1) % 8;                                                         \
    } else {                                                                               \
      d.type = ncclProfileColl;                                                            \
      d.coll.name = "harness";                                                             \
      d.coll.commHash = comm;                                                              \
      d.coll.seqNumber = (uint64_t)i;                                                      \
      d.coll.func = FUNC;                                                                  \
      d.coll.count = count;                                                                \
      d.coll.datatype = DTYPE;                                                             \
      d.coll.nMaxChannels = 2;                                                             \
      d.coll.algo = ALGO;                                                                  \
      d.coll.proto = PROTO;                                                                \
      EXTRA;                                                                               \
    }                                                                                      \
    t0 = now();                                                                            \
    P->startEvent(ctx, &op, &d);                                                           \
    P->stopEvent(op); /* enqueued: not complete */                                         \
    spent += now() - t0;                                                                   \
    ncalls += 2;                                                                           \
    handoff(q, op, base, exec, p2p);                                                       \
  } while (0)

/* What NCCL's proxy progress thread does when the kernel's channels finish. */
#define RUN_KERNEL(P, DESCR_T, ARGS_T)                                                     \
  do {                                                                                     \
    DESCR_T d;                                                                             \
    ARGS_T a;                                                                              \
    void *ch[2] = {0};                                                                     \
    t0 = now();                                                                            \
    for (int c = 0; c < 2; c++) {                                                          \
      memset(&d, 0, sizeof(d));                                                            \
      d.type = ncclProfileKernelCh;                                                        \
      d.parentObj = op;                                                                    \
      d.kernelCh.channelId = (uint8_t)c;                                                   \
      d.kernelCh.pTimer = base + (uint64_t)c * 1000;                                       \
      P->startEvent(ctx, &ch[c], &d);                                                      \
    }                                                                                      \
    for (int c = 0; c < 2; c++) {                                                          \
      a.kernelCh.pTimer = base + exec - (uint64_t)(1 - c) * 1000;                          \
      P->recordEventState(ch[c], ncclProfilerKernelChStop, &a);                            \
      P->stopEvent(ch[c]);                                                                 \
    }                                                                                      \
    spent += now() - t0;                                                                   \
    ncalls += 6;                                                                           \
  } while (0)

/* v3 (NCCL 2.25): kernel channel events without GPU timers or a stop state. */
static void run_kernel_v3(void *ctx, void *op, double *spent, long *ncalls) {
  ncclProfilerEventDescr_v3_t d;
  void *ch[2] = {0};
  double t0 = now();
  for (int c = 0; c < 2; c++) {
    memset(&d, 0, sizeof(d));
    d.type = ncclProfileKernelCh;
    d.parentObj = op;
    d.kernelCh.channelId = (uint8_t)c;
    p3->startEvent(ctx, &ch[c], &d);
  }
  for (int c = 0; c < 2; c++) p3->stopEvent(ch[c]);
  *spent += now() - t0;
  *ncalls += 4;
}

/* v2, v1 (NCCL 2.24, 2.23): the proxy's network operations for this rank's
 * operation, started together as NCCL's proxy starts the sub-operations of
 * one proxy call, each marked done and stopped. A collective has a send and
 * a receive per channel, a Send a send per channel. */
#define RUN_PROXY(P, DESCR_T)                                                              \
  do {                                                                                     \
    DESCR_T d;                                                                             \
    ncclProfilerEventStateArgs_v1_t a;                                                     \
    void *px[4] = {0};                                                                     \
    int n = p2p ? 2 : 4;                                                                   \
    t0 = now();                                                                            \
    for (int k = 0; k < n; k++) {                                                          \
      memset(&d, 0, sizeof(d));                                                            \
      d.type = ncclProfileProxyOp;                                                         \
      d.parentObj = op;                                                                    \
      d.rank = rank;                                                                       \
      d.proxyOp.pid = my_pid;                                                              \
      d.proxyOp.channelId = (uint8_t)(p2p ? k : k / 2);                                    \
      d.proxyOp.peer = (rank + 1) % 8;                                                     \
      d.proxyOp.nSteps = 4;                                                                \
      d.proxyOp.chunkSize = 1 << 17;                                                       \
      d.proxyOp.isSend = p2p || k % 2 == 0;                                                \
      P->startEvent(ctx, &px[k], &d);                                                      \
    }                                                                                      \
    for (int k = 0; k < n; k++) {                                                          \
      memset(&a, 0, sizeof(a));                                                            \
      a.proxyOp.transSize = (size_t)base % 4096;                                           \
      a.proxyOp.steps = 4;                                                                 \
      P->recordEventState(px[k], (p2p || k % 2 == 0) ? ncclProfilerProxyOpSendDone        \
                                                     : ncclProfilerProxyOpRecvDone, &a);  \
      P->stopEvent(px[k]);                                                                 \
    }                                                                                      \
    spent += now() - t0;                                                                   \
    ncalls += 3 * n;                                                                       \
  } while (0)

/* Single-producer single-consumer queue from a rank's thread to its proxy thread. */
#define QLEN 1024
struct item {
  void *op;
  uint64_t base, exec;
  int p2p;
};
struct queue {
  struct item it[QLEN];
  _Atomic unsigned head, tail;
  void *ctx;
  int rank;
  double spent;
  long ncalls;
};

static void handoff(struct queue *q, void *op, uint64_t base, uint64_t exec, int p2p) {
  unsigned h = atomic_load(&q->head);
  while (h - atomic_load(&q->tail) >= QLEN) sched_yield();
  q->it[h % QLEN] = (struct item){op, base, exec, p2p};
  atomic_store(&q->head, h + 1);
}

static void *proxy(void *arg) {
  struct queue *q = arg;
  void *ctx = q->ctx;
  int rank = q->rank;
  double spent = 0, t0;
  long ncalls = 0;
  for (;;) {
    unsigned t = atomic_load(&q->tail);
    if (t == atomic_load(&q->head)) {
      sched_yield();
      continue;
    }
    struct item it = q->it[t % QLEN];
    atomic_store(&q->tail, t + 1);
    if (it.op == (void *)q) break; /* end of stream */
    void *op = it.op;
    uint64_t base = it.base, exec = it.exec;
    int p2p = it.p2p;
    (void)exec;
    if (version == 5)
      RUN_KERNEL(p5, ncclProfilerEventDescr_v5_t, ncclProfilerEventStateArgs_v5_t);
    else if (version == 4)
      RUN_KERNEL(p4, ncclProfilerEventDescr_v4_t, ncclProfilerEventStateArgs_v4_t);
    else if (version == 3)
      run_kernel_v3(ctx, op, &spent, &ncalls);
    else if (version == 2)
      RUN_PROXY(p2, ncclProfilerEventDescr_v2_t);
    else
      RUN_PROXY(p1, ncclProfilerEventDescr_v1_t);
  }
  q->spent = spent;
  q->ncalls = ncalls;
  return NULL;
}

static void *worker(void *arg) {
  int rank = (int)(long)arg;
  fake_dev = rank;
  void *ctx = NULL;
  int mask = 0;
  uint64_t comm = 0xacce17e1000ull + (uint64_t)(rank / 8);
  if (version == 5)
    p5->init(&ctx, comm, &mask, "harness", 2, 8, rank % 8, NULL);
  else if (version == 4)
    p4->init(&ctx, &mask, "harness", comm, 2, 8, rank % 8, NULL);
  else if (version == 3)
    p3->init(&ctx, &mask);
  else if (version == 2)
    p2->init(&ctx, &mask);
  else
    p1->init(&ctx, &mask);
  /* What NCCL then delivers: kernel channels from v3 on, proxy ops before. */
  int want = ncclProfileColl | ncclProfileP2p | (version >= 3 ? ncclProfileKernelCh : ncclProfileProxyOp);
  if ((mask & want) != want) {
    fprintf(stderr, "plugin did not ask for the events v%d completes with (mask %#x)\n", version, mask);
    exit(2);
  }
  double spent = 0, t0;
  long ncalls = 0;
  struct queue *q = calloc(1, sizeof(*q));
  q->ctx = ctx;
  q->rank = rank % 8;
  pthread_t px;
  pthread_create(&px, NULL, proxy, q);
  for (int i = 0; i < nops; i++) {
    int p2p = i % 10 == 9;
    size_t count = 1024u * (size_t)(1 + i % 4);
    uint64_t base = 1000000000ull * (uint64_t)(rank + 1) + (uint64_t)i * 100000;
    uint64_t exec = 10000ull * (uint64_t)(1 + i % 5); /* GPU time, ns */
    rank %= 8;
    if (version == 5)
      RUN_OP(p5, ncclProfilerEventDescr_v5_t);
    else if (version == 4)
      RUN_OP(p4, ncclProfilerEventDescr_v4_t);
    else if (version == 3)
      RUN_OP_OLD(p3, ncclProfilerEventDescr_v3_t, funcs[i % 5], "ncclFloat32", (i & 1) ? "Tree" : "Ring",
                 "Simple", "Send", "ncclBfloat16", (void)0);
    else if (version == 2)
      RUN_OP_OLD(p2, ncclProfilerEventDescr_v2_t, funcs[i % 5], "ncclFloat32", (i & 1) ? "Tree" : "Ring",
                 "Simple", "Send", "ncclBfloat16", d.coll.trafficBytes = count * 4);
    else
      RUN_OP_OLD(p1, ncclProfilerEventDescr_v1_t, v1_funcs[i % 5], V1_FLOAT32, (i & 1) ? V1_TREE : V1_RING,
                 V1_SIMPLE, V1_SEND, V1_BFLOAT16, d.coll.trafficBytes = count * 4);
    rank = (int)(long)arg;
    if (pace_us && i % 100 == 99) usleep((useconds_t)pace_us);
  }
  handoff(q, q, 0, 0, 0);
  pthread_join(px, NULL);
  cost_ns[(long)arg] = spent + q->spent;
  calls[(long)arg] = ncalls + q->ncalls;
  free(q);
  if (version == 5)
    p5->finalize(ctx);
  else if (version == 4)
    p4->finalize(ctx);
  else if (version == 3)
    p3->finalize(ctx);
  else if (version == 2)
    p2->finalize(ctx);
  else
    p1->finalize(ctx);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s PLUGIN.so VERSION THREADS OPS [PACE_US]\n", argv[0]);
    return 2;
  }
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 2;
  }
  version = atoi(argv[2]);
  nthreads = atoi(argv[3]);
  nops = atoi(argv[4]);
  pace_us = argc > 5 ? atoi(argv[5]) : 0;
  if (nthreads < 1 || nthreads > 256) return 2;
  p5 = dlsym(lib, "ncclProfiler_v5");
  p4 = dlsym(lib, "ncclProfiler_v4");
  p3 = dlsym(lib, "ncclProfiler_v3");
  p2 = dlsym(lib, "ncclProfiler_v2");
  p1 = dlsym(lib, "ncclProfiler_v1");
  my_pid = getpid();
  if (version < 1 || version > 5 || (version == 5 && !p5) || (version == 4 && !p4) || (version == 3 && !p3) ||
      (version == 2 && !p2) || (version == 1 && !p1)) {
    fprintf(stderr, "ncclProfiler_v%d not found\n", version);
    return 2;
  }
  double t0 = now();
  pthread_t th[256];
  for (long t = 0; t < nthreads; t++) pthread_create(&th[t], NULL, worker, (void *)t);
  for (int t = 0; t < nthreads; t++) pthread_join(th[t], NULL);
  double total = 0;
  long n = 0;
  for (int t = 0; t < nthreads; t++) {
    total += cost_ns[t];
    n += calls[t];
  }
  uint64_t sent = 0, dropped = 0;
  void (*stats)(uint64_t *, uint64_t *) = (void (*)(uint64_t *, uint64_t *))dlsym(lib, "acceltel_nccl_profiler_stats");
  if (stats) stats(&sent, &dropped);
  printf("ops=%ld callbacks=%ld ns_per_callback=%.1f ns_per_op=%.1f sent=%llu dropped=%llu wall_ms=%.1f\n",
         (long)nthreads * nops, n, total / n, total / ((double)nthreads * nops), (unsigned long long)sent,
         (unsigned long long)dropped, (now() - t0) / 1e6);
  return 0;
}
