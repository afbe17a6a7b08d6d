/*
 * libnccl-profiler-acceltel.so: an NCCL profiler plugin that times every
 * collective and P2P operation from its start to its completion on the GPU
 * and ships one binary record per operation to the acceltel collector.
 *
 * Hot path rules: no lock, no syscall beyond the vDSO clock, no allocation
 * after a thread's first event. Records go to a per-thread ring; a background
 * thread drains the rings into non-blocking datagrams. Whatever cannot be
 * kept (ring full, slot pool full, nobody listening) is dropped and counted.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "nccl_profiler_api.h"
#include "record.h"

#define EXPORT __attribute__((visibility("default")))
#define POOL 2048      /* operations in flight per communicator (~0.7 MB) */
#define MAXCH 64       /* NCCL's MAXCHANNELS */
#define RING 4096      /* records per thread awaiting the flusher */
#define STALE_NS (60ull * 1000000000ull)

/* A handle's first byte says what it is. A child (kernel channel or proxy
 * op) handle is the address of its tag byte inside the parent, the tag
 * encoding the index, so children cost one byte each and find their parent
 * by arithmetic. */
enum { TAG_OP = 1, TAG_KCH = 64, TAG_PROXY = 128, TAG_END = 192 };

struct ctx;
struct op {
  uint8_t tag;
  _Atomic int busy;     /* 0 free, 1 in flight, 2 being emitted */
  _Atomic int host_stopped;
  _Atomic int active;   /* children started and not stopped */
  _Atomic int started;
  _Atomic int done;
  _Atomic int nproxy;
  int expected;         /* kernel channels to wait for; 0: wait for quiet */
  uint64_t t0;
  _Atomic uint64_t host_end, gpu_min, gpu_max;
  struct acceltel_rec rec;
  uint8_t kch[MAXCH];   /* TAG_KCH + channel */
  uint8_t pch[MAXCH];   /* TAG_PROXY + index */
};

static struct op *parent_of(uint8_t *h) {
  uint8_t t = *h;
  if (t >= TAG_PROXY) return (struct op *)(h - (t - TAG_PROXY) - offsetof(struct op, pch));
  return (struct op *)(h - (t - TAG_KCH) - offsetof(struct op, kch));
}

struct ctx {
  int version;
  uint64_t comm_id;
  int nnodes, nranks, rank, cuda_dev;
  _Atomic uint32_t next;
  struct op ops[POOL];
};

struct ring {
  _Atomic uint32_t head, tail;
  struct ring *next;
  struct acceltel_rec r[RING];
};

static _Atomic(struct ring *) rings;
static __thread struct ring *my_ring;
static _Atomic uint64_t dropped;
static _Atomic uint64_t sent;
static pthread_mutex_t life_mu = PTHREAD_MUTEX_INITIALIZER;
static int live_ctx;
static pthread_t flusher;
static _Atomic int running;
static int sock = -1;
static struct sockaddr_un dest;
static socklen_t dest_len;
static long flush_ns = 5 * 1000000L;
static uint64_t unix_offset; /* realtime - monotonic at init */
static pid_t my_pid;

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void copy_str(char *dst, size_t n, const char *src) {
  size_t i = 0;
  if (src)
    for (; i < n && src[i]; i++) dst[i] = src[i];
  for (; i < n; i++) dst[i] = 0;
}

/* Element size from NCCL's datatype names (ncclFloat32, ncclBfloat16, ...). */
static int type_size(const char *t) {
  if (!t) return 0;
  if (strstr(t, "Float8")) return 1;
  size_t n = strlen(t);
  if (n >= 2 && t[n - 1] == '8') return 1;
  if (n >= 2 && t[n - 2] == '1' && t[n - 1] == '6') return 2;
  if (n >= 2 && t[n - 2] == '3' && t[n - 1] == '2') return 4;
  if (n >= 2 && t[n - 2] == '6' && t[n - 1] == '4') return 8;
  return 0;
}

/* v1 passes enums; translate them to the names later versions pass. */
static const char *v1_func(uint8_t f) {
  static const char *n[] = {"Broadcast", "Reduce", "AllGather", "ReduceScatter", "AllReduce", "SendRecv", "Send", "Recv"};
  return f < 8 ? n[f] : "Unknown";
}
static const char *v1_type(uint8_t d) {
  static const char *n[] = {"ncclInt8", "ncclUint8", "ncclInt32", "ncclUint32", "ncclInt64", "ncclUint64",
                            "ncclFloat16", "ncclFloat32", "ncclFloat64", "ncclBfloat16", "ncclFloat8e4m3", "ncclFloat8e5m2"};
  return d < 12 ? n[d] : "Unknown";
}
static const char *v1_algo(uint8_t a) {
  static const char *n[] = {"Tree", "Ring", "CollNetDirect", "CollNetChain", "NVLS", "NVLSTree", "PAT"};
  return a < 7 ? n[a] : "Unknown";
}
static const char *v1_proto(uint8_t p) {
  static const char *n[] = {"LL", "LL128", "Simple"};
  return p < 3 ? n[p] : "Unknown";
}

/* nccl-tests size: all-gather and reduce-scatter count one rank's share. */
static uint64_t msg_bytes(const char *func, size_t count, const char *dtype, int nranks) {
  uint64_t b = (uint64_t)count * (uint64_t)type_size(dtype);
  if (func && nranks > 0 && (!strcmp(func, "AllGather") || !strcmp(func, "ReduceScatter")))
    b *= (uint64_t)nranks;
  return b;
}

/* ---------------------------------------------------------------- output */

static struct ring *thread_ring(void) {
  if (my_ring) return my_ring;
  struct ring *r = calloc(1, sizeof(*r));
  if (!r) return NULL;
  r->next = atomic_load(&rings);
  while (!atomic_compare_exchange_weak(&rings, &r->next, r)) {
  }
  my_ring = r;
  return r;
}

static void push(const struct acceltel_rec *rec) {
  struct ring *r = thread_ring();
  if (!r) {
    atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
    return;
  }
  uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
  if (h - atomic_load_explicit(&r->tail, memory_order_acquire) >= RING) {
    atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
    return;
  }
  r->r[h % RING] = *rec;
  atomic_store_explicit(&r->head, h + 1, memory_order_release);
}

enum { SENT, AGAIN, DROPPED };

static int send_batch(unsigned char *buf, int n) {
  struct acceltel_hdr *h = (struct acceltel_hdr *)buf;
  h->magic = ACCELTEL_WIRE_MAGIC;
  h->version = ACCELTEL_WIRE_VERSION;
  h->rec_size = sizeof(struct acceltel_rec);
  h->count = (uint16_t)n;
  h->reserved = 0;
  h->dropped = (uint32_t)atomic_load(&dropped);
  size_t len = sizeof(*h) + (size_t)n * sizeof(struct acceltel_rec);
  /* MSG_DONTWAIT: a slow or absent collector costs records, never time. */
  if (sock >= 0 && sendto(sock, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&dest, dest_len) >= 0) {
    atomic_fetch_add(&sent, (uint64_t)n);
    return SENT;
  }
  /* A full receive queue (the kernel's max_dgram_qlen) is back-pressure
   * from a live collector: keep the records and retry at the next tick. */
  if (sock >= 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return AGAIN;
  atomic_fetch_add(&dropped, (uint64_t)n); /* nobody listening */
  return DROPPED;
}

/* drain sends what the rings hold; it returns AGAIN when the collector
 * pushed back, leaving the rest in the rings. */
static int drain(void) {
  static unsigned char buf[sizeof(struct acceltel_hdr) + RECORDS_PER_DGRAM * sizeof(struct acceltel_rec)];
  struct acceltel_rec *out = (struct acceltel_rec *)(buf + sizeof(struct acceltel_hdr));
  for (struct ring *r = atomic_load(&rings); r; r = r->next) {
    uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    while (t != h) {
      int n = 0;
      for (uint32_t i = t; i != h && n < RECORDS_PER_DGRAM; i++) out[n++] = r->r[i % RING];
      if (send_batch(buf, n) == AGAIN) return AGAIN;
      t += (uint32_t)n;
      atomic_store_explicit(&r->tail, t, memory_order_release);
    }
  }
  return SENT;
}

static void *flush_loop(void *arg) {
  (void)arg;
  struct timespec ts = {flush_ns / 1000000000L, flush_ns % 1000000000L};
  while (atomic_load(&running)) {
    drain();
    nanosleep(&ts, NULL);
  }
  /* The last communicator is gone: give a live but busy collector a bounded
   * 200 ms to take the rest, then count what is left as dropped. */
  struct timespec pause = {0, 1000000L};
  for (int i = 0; i < 200 && drain() == AGAIN; i++) nanosleep(&pause, NULL);
  for (struct ring *r = atomic_load(&rings); r; r = r->next) {
    uint32_t h = atomic_load(&r->head), t = atomic_load(&r->tail);
    atomic_fetch_add(&dropped, (uint64_t)(h - t));
    atomic_store(&r->tail, h);
  }
  return NULL;
}

static void start_output(void) {
  const char *path = getenv("ACCELTEL_NCCL_SOCKET");
  if (!path || !*path) path = "/run/acceltel/nccl.sock";
  const char *ms = getenv("ACCELTEL_NCCL_FLUSH_MS");
  if (ms && atol(ms) > 0) flush_ns = atol(ms) * 1000000L;
  memset(&dest, 0, sizeof(dest));
  dest.sun_family = AF_UNIX;
  snprintf(dest.sun_path, sizeof(dest.sun_path), "%s", path);
  dest_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(dest.sun_path) + 1);
  sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  struct timespec rt, mono;
  clock_gettime(CLOCK_REALTIME, &rt);
  clock_gettime(CLOCK_MONOTONIC, &mono);
  unix_offset = ((uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec) -
                ((uint64_t)mono.tv_sec * 1000000000ull + (uint64_t)mono.tv_nsec);
  my_pid = getpid();
  atomic_store(&running, 1);
  if (pthread_create(&flusher, NULL, flush_loop, NULL) != 0) atomic_store(&running, 0);
}

/* The CUDA device of the thread creating the communicator, without linking
 * CUDA: the runtime if it is visible globally, else the driver's context. */
static int cuda_device(void) {
  int dev = -1;
  int (*rt)(int *) = (int (*)(int *))dlsym(RTLD_DEFAULT, "cudaGetDevice");
  if (rt && rt(&dev) == 0) return dev;
  void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (h) {
    int (*drv)(int *) = (int (*)(int *))dlsym(h, "cuCtxGetDevice");
    if (!drv || drv(&dev) != 0) dev = -1;
    dlclose(h);
  }
  return dev;
}

/* --------------------------------------------------------------- lifecycle */

static ncclResult_t init_common(void **context, int *mask, int version, uint64_t comm, int nnodes,
                                int nranks, int rank) {
  struct ctx *c = calloc(1, sizeof(*c));
  if (!c) { /* NCCL runs on without a profiler context */
    *context = NULL;
    *mask = 0;
    return ncclSuccess;
  }
  c->version = version;
  c->comm_id = comm;
  c->nnodes = nnodes;
  c->nranks = nranks;
  c->rank = rank;
  c->cuda_dev = cuda_device();
  pthread_mutex_lock(&life_mu);
  if (live_ctx++ == 0) start_output();
  pthread_mutex_unlock(&life_mu);
  /* Completion comes from kernel channels where NCCL has them (v3+), from
   * proxy operations before that. */
  *mask = ncclProfileColl | ncclProfileP2p | (version >= 3 ? ncclProfileKernelCh : ncclProfileProxyOp);
  *context = c;
  return ncclSuccess;
}

static ncclResult_t finalize(void *context) {
  if (!context) return ncclSuccess;
  pthread_mutex_lock(&life_mu);
  if (--live_ctx == 0 && atomic_exchange(&running, 0)) {
    pthread_join(flusher, NULL);
    if (sock >= 0) close(sock);
    sock = -1;
  }
  pthread_mutex_unlock(&life_mu);
  free(context);
  return ncclSuccess;
}

/* ------------------------------------------------------------------ events */

static struct op *alloc_op(struct ctx *c, uint64_t t) {
  for (int probe = 0; probe < 8; probe++) {
    struct op *o = &c->ops[atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed) % POOL];
    int free_ = 0;
    if (atomic_compare_exchange_strong(&o->busy, &free_, 1)) return o;
    /* An operation that never completed (its kernel events disabled, or a
     * communicator aborted) gives its slot back after a minute. */
    if (t - o->t0 > STALE_NS) {
      atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
      return o;
    }
  }
  atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
  return NULL;
}

static struct op *begin(struct ctx *c, int rank, int kind, int expected) {
  uint64_t t = now_ns();
  struct op *o = alloc_op(c, t);
  if (!o) return NULL;
  o->tag = TAG_OP;
  o->t0 = t;
  o->expected = expected;
  atomic_store(&o->host_stopped, 0);
  atomic_store(&o->active, 0);
  atomic_store(&o->started, 0);
  atomic_store(&o->done, 0);
  atomic_store(&o->nproxy, 0);
  atomic_store(&o->host_end, 0);
  atomic_store(&o->gpu_min, UINT64_MAX);
  atomic_store(&o->gpu_max, 0);
  struct acceltel_rec *r = &o->rec;
  r->comm_id = c->comm_id;
  r->start_unix_ns = t + unix_offset;
  r->rank = rank;
  r->nranks = c->nranks;
  r->nnodes = c->nnodes;
  r->pid = my_pid;
  r->cuda_dev = c->cuda_dev;
  r->peer = -1;
  r->kind = (uint8_t)kind;
  r->flags = c->version >= 3 ? 0 : REC_FLAG_PROXY;
  r->reserved = 0;
  return o;
}

static void fill(struct op *o, uint64_t seq, const char *func, size_t count, const char *dtype, int nranks,
                 int channels, const char *algo, const char *proto) {
  struct acceltel_rec *r = &o->rec;
  r->seq = seq;
  r->bytes = msg_bytes(func, count, dtype, nranks);
  r->channels = (uint8_t)channels;
  copy_str(r->func, sizeof(r->func), func);
  copy_str(r->datatype, sizeof(r->datatype), dtype);
  copy_str(r->algo, sizeof(r->algo), algo);
  copy_str(r->proto, sizeof(r->proto), proto);
}

static void atomic_max(_Atomic uint64_t *p, uint64_t v) {
  uint64_t cur = atomic_load_explicit(p, memory_order_relaxed);
  while (v > cur && !atomic_compare_exchange_weak(p, &cur, v)) {
  }
}
static void atomic_min(_Atomic uint64_t *p, uint64_t v) {
  uint64_t cur = atomic_load_explicit(p, memory_order_relaxed);
  while (v < cur && !atomic_compare_exchange_weak(p, &cur, v)) {
  }
}

/* Emit once the host enqueued the operation and every channel it waits for
 * finished; whichever thread gets there last does it. */
static void maybe_complete(struct op *o) {
  if (!atomic_load(&o->host_stopped)) return;
  if (o->expected > 0 ? atomic_load(&o->done) < o->expected
                      : (atomic_load(&o->started) == 0 || atomic_load(&o->active) != 0))
    return;
  int one = 1;
  if (!atomic_compare_exchange_strong(&o->busy, &one, 2)) return;
  uint64_t end = atomic_load(&o->host_end);
  o->rec.duration_ns = end > o->t0 ? end - o->t0 : 0;
  uint64_t gmin = atomic_load(&o->gpu_min), gmax = atomic_load(&o->gpu_max);
  o->rec.exec_ns = 0;
  if (gmax > 0 && gmin != UINT64_MAX && gmax > gmin) {
    o->rec.exec_ns = gmax - gmin;
    o->rec.flags |= REC_FLAG_GPU_TIMER;
  }
  push(&o->rec);
  atomic_store(&o->busy, 0);
}

static void *child_start(struct op *o, int tag, int ch, uint64_t gpu_start) {
  if (!o || o->tag != TAG_OP || atomic_load(&o->busy) != 1) return NULL;
  uint8_t *k;
  if (tag == TAG_KCH) {
    ch %= MAXCH;
    k = &o->kch[ch];
  } else {
    ch = atomic_fetch_add(&o->nproxy, 1);
    if (ch >= MAXCH) return NULL;
    k = &o->pch[ch];
  }
  *k = (uint8_t)(tag + ch);
  if (gpu_start) atomic_min(&o->gpu_min, gpu_start);
  atomic_fetch_add(&o->active, 1);
  atomic_fetch_add(&o->started, 1);
  return k;
}

static ncclResult_t stop_event(void *h) {
  if (!h) return ncclSuccess;
  uint8_t tag = *(uint8_t *)h;
  if (tag == TAG_OP) {
    struct op *o = h;
    atomic_store(&o->host_stopped, 1);
    maybe_complete(o);
    return ncclSuccess;
  }
  if (tag < TAG_KCH || tag >= TAG_END) return ncclSuccess;
  struct op *o = parent_of(h);
  atomic_max(&o->host_end, now_ns());
  atomic_fetch_add(&o->done, 1);
  atomic_fetch_sub(&o->active, 1);
  maybe_complete(o);
  return ncclSuccess;
}

static void record_gpu_stop(void *h, ncclProfilerEventState_t s, uint64_t ptimer) {
  if (!h || s != ncclProfilerKernelChStop) return;
  uint8_t tag = *(uint8_t *)h;
  if (tag < TAG_KCH || tag >= TAG_PROXY) return;
  if (ptimer) atomic_max(&parent_of(h)->gpu_max, ptimer);
}

/* ---------------------------------------------------------------- v5 / v4 */

#define START_NEW(D)                                                                                 \
  struct ctx *c = context;                                                                           \
  *eHandle = NULL;                                                                                   \
  if (!c) return ncclSuccess;                                                                        \
  if (D->type == ncclProfileColl) {                                                                  \
    struct op *o = begin(c, D->rank, REC_KIND_COLL, D->coll.nChannels);                              \
    if (o) fill(o, D->coll.seqNumber, D->coll.func, D->coll.count, D->coll.datatype, c->nranks,       \
                D->coll.nChannels, D->coll.algo, D->coll.proto);                                     \
    *eHandle = o;                                                                                    \
  } else if (D->type == ncclProfileP2p) {                                                            \
    struct op *o = begin(c, D->rank, REC_KIND_P2P, D->p2p.nChannels);                                \
    if (o) {                                                                                         \
      fill(o, 0, D->p2p.func, D->p2p.count, D->p2p.datatype, c->nranks, D->p2p.nChannels, "", "");   \
      o->rec.peer = D->p2p.peer;                                                                     \
    }                                                                                                \
    *eHandle = o;                                                                                    \
  } else if (D->type == ncclProfileKernelCh) {                                                       \
    *eHandle = child_start(D->parentObj, TAG_KCH, D->kernelCh.channelId, D->kernelCh.pTimer);        \
  }                                                                                                  \
  return ncclSuccess;

static ncclResult_t init_v5(void **context, uint64_t commId, int *mask, const char *name, int nNodes,
                            int nranks, int rank, ncclDebugLogger_t logfn) {
  (void)name;
  (void)logfn;
  return init_common(context, mask, 5, commId, nNodes, nranks, rank);
}
static ncclResult_t start_v5(void *context, void **eHandle, ncclProfilerEventDescr_v5_t *d) { START_NEW(d) }
static ncclResult_t record_v5(void *h, ncclProfilerEventState_t s, ncclProfilerEventStateArgs_v5_t *a) {
  record_gpu_stop(h, s, a ? a->kernelCh.pTimer : 0);
  return ncclSuccess;
}

static ncclResult_t init_v4(void **context, int *mask, const char *name, uint64_t commHash, int nNodes,
                            int nranks, int rank, ncclDebugLogger_t logfn) {
  (void)name;
  (void)logfn;
  return init_common(context, mask, 4, commHash, nNodes, nranks, rank);
}
static ncclResult_t start_v4(void *context, void **eHandle, ncclProfilerEventDescr_v4_t *d) { START_NEW(d) }

/* ------------------------------------------------------------ v3 / v2 / v1 */

/* Before v4 the communicator is known only from each event; nranks is not. */
#define START_OLD(D, FUNC, DTYPE, ALGO, PROTO, PFUNC, PDTYPE, CHILD)                                 \
  struct ctx *c = context;                                                                           \
  *eHandle = NULL;                                                                                   \
  if (!c) return ncclSuccess;                                                                        \
  if (D->type == ncclProfileColl) {                                                                  \
    struct op *o = begin(c, D->rank, REC_KIND_COLL, 0);                                              \
    if (o) {                                                                                         \
      o->rec.comm_id = D->coll.commHash;                                                             \
      fill(o, D->coll.seqNumber, FUNC, D->coll.count, DTYPE, 0, D->coll.nMaxChannels, ALGO, PROTO);  \
    }                                                                                                \
    *eHandle = o;                                                                                    \
  } else if (D->type == ncclProfileP2p) {                                                            \
    struct op *o = begin(c, D->rank, REC_KIND_P2P, 0);                                               \
    if (o) {                                                                                         \
      o->rec.comm_id = D->p2p.commHash;                                                              \
      fill(o, 0, PFUNC, D->p2p.count, PDTYPE, 0, 0, "", "");                                         \
      o->rec.peer = D->p2p.peer;                                                                     \
    }                                                                                                \
    *eHandle = o;                                                                                    \
  } else if (D->type == ncclProfileProxyOp && D->proxyOp.pid == my_pid) {                            \
    /* parentObj is only ours when the proxy runs in our process */                                  \
    *eHandle = child_start(D->parentObj, TAG_PROXY, D->proxyOp.channelId, 0);                        \
  }                                                                                                  \
  CHILD return ncclSuccess;

static ncclResult_t init_v3(void **context, int *mask) { return init_common(context, mask, 3, 0, 0, 0, 0); }
static ncclResult_t init_v2(void **context, int *mask) { return init_common(context, mask, 2, 0, 0, 0, 0); }
static ncclResult_t init_v1(void **context, int *mask) { return init_common(context, mask, 1, 0, 0, 0, 0); }

static ncclResult_t start_v3(void *context, void **eHandle, ncclProfilerEventDescr_v3_t *d) {
  START_OLD(d, d->coll.func, d->coll.datatype, d->coll.algo, d->coll.proto, d->p2p.func, d->p2p.datatype,
            if (d->type == ncclProfileKernelCh) *eHandle = child_start(d->parentObj, TAG_KCH, d->kernelCh.channelId, 0);)
}
static ncclResult_t start_v2(void *context, void **eHandle, ncclProfilerEventDescr_v2_t *d) {
  START_OLD(d, d->coll.func, d->coll.datatype, d->coll.algo, d->coll.proto, d->p2p.func, d->p2p.datatype, )
}
static ncclResult_t start_v1(void *context, void **eHandle, ncclProfilerEventDescr_v1_t *d) {
  START_OLD(d, v1_func(d->coll.func), v1_type(d->coll.datatype), v1_algo(d->coll.algo), v1_proto(d->coll.proto),
            v1_func(d->p2p.func), v1_type(d->p2p.datatype), )
}
static ncclResult_t record_old(void *h, ncclProfilerEventState_t s, ncclProfilerEventStateArgs_v1_t *a) {
  (void)h;
  (void)s;
  (void)a;
  return ncclSuccess; /* completion is the child's stopEvent */
}

EXPORT ncclProfiler_v5_t ncclProfiler_v5 = {"acceltel", init_v5, start_v5, stop_event, record_v5, finalize};
EXPORT ncclProfiler_v4_t ncclProfiler_v4 = {"acceltel", init_v4, start_v4, stop_event, record_v5, finalize};
EXPORT ncclProfiler_v3_t ncclProfiler_v3 = {"acceltel", init_v3, start_v3, stop_event, record_old, finalize};
EXPORT ncclProfiler_v2_t ncclProfiler_v2 = {"acceltel", init_v2, start_v2, stop_event, record_old, finalize};
EXPORT ncclProfiler_v1_t ncclProfiler_v1 = {"acceltel", init_v1, start_v1, stop_event, record_old, finalize};

/* For tests and the README's numbers: what this process sent and dropped. */
EXPORT void acceltel_nccl_profiler_stats(uint64_t *sent_out, uint64_t *dropped_out) {
  if (sent_out) *sent_out = atomic_load(&sent);
  if (dropped_out) *dropped_out = atomic_load(&dropped);
}
