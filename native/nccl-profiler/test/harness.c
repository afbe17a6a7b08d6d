/*
 * Drives libnccl-profiler-acceltel.so the way NCCL does, without NCCL or a
 * GPU: per rank thread, one communicator (init), then collectives and sends
 * (start, stop = enqueued); a second "proxy" thread per rank completes each
 * one with kernel-channel events carrying GPU timer values, as NCCL's proxy
 * progress thread does; then finalize. Every value is a function of (rank, i) so the receiver test can
 * check each record. Prints the plugin's host cost per callback.
 *
 * usage: harness PLUGIN.so VERSION(4|5) THREADS OPS [PACE_US]
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
static __thread int fake_dev = -1;
static double cost_ns[256];
static long calls[256];

/* The plugin asks the CUDA runtime for the device; -rdynamic exports this. */
int cudaGetDevice(int *dev) {
  *dev = fake_dev;
  return 0;
}

static const char *funcs[] = {"AllReduce", "AllGather", "ReduceScatter", "Broadcast", "Reduce", "AllToAll"};

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
    handoff(q, op, base, exec);                                                            \
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

/* Single-producer single-consumer queue from a rank's thread to its proxy thread. */
#define QLEN 1024
struct item {
  void *op;
  uint64_t base, exec;
};
struct queue {
  struct item it[QLEN];
  _Atomic unsigned head, tail;
  void *ctx;
  double spent;
  long ncalls;
};

static void handoff(struct queue *q, void *op, uint64_t base, uint64_t exec) {
  unsigned h = atomic_load(&q->head);
  while (h - atomic_load(&q->tail) >= QLEN) sched_yield();
  q->it[h % QLEN] = (struct item){op, base, exec};
  atomic_store(&q->head, h + 1);
}

static void *proxy(void *arg) {
  struct queue *q = arg;
  void *ctx = q->ctx;
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
    if (version == 5)
      RUN_KERNEL(p5, ncclProfilerEventDescr_v5_t, ncclProfilerEventStateArgs_v5_t);
    else
      RUN_KERNEL(p4, ncclProfilerEventDescr_v4_t, ncclProfilerEventStateArgs_v4_t);
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
  else
    p4->init(&ctx, &mask, "harness", comm, 2, 8, rank % 8, NULL);
  if (!(mask & ncclProfileKernelCh)) {
    fprintf(stderr, "plugin did not ask for kernel channel events (mask %#x)\n", mask);
    exit(2);
  }
  double spent = 0, t0;
  long ncalls = 0;
  struct queue *q = calloc(1, sizeof(*q));
  q->ctx = ctx;
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
    else
      RUN_OP(p4, ncclProfilerEventDescr_v4_t);
    rank = (int)(long)arg;
    if (pace_us && i % 100 == 99) usleep((useconds_t)pace_us);
  }
  handoff(q, q, 0, 0);
  pthread_join(px, NULL);
  cost_ns[(long)arg] = spent + q->spent;
  calls[(long)arg] = ncalls + q->ncalls;
  free(q);
  if (version == 5)
    p5->finalize(ctx);
  else
    p4->finalize(ctx);
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
  if ((version == 5 && !p5) || (version == 4 && !p4)) {
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
