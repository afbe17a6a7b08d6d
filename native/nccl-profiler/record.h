/*
 * The wire format between the plugin and the acceltel nccl receiver: one Unix
 * datagram holds a header and up to RECORDS_PER_DGRAM fixed-size records, all
 * little-endian. Strings are NUL-padded ASCII so a new NCCL algorithm or
 * datatype needs no change here. Bump ACCELTEL_WIRE_VERSION when a field
 * changes meaning; fields may only be appended (the header carries the size).
 */
#ifndef ACCELTEL_NCCL_RECORD_H
#define ACCELTEL_NCCL_RECORD_H

#include <stdint.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the wire format is little-endian; add byte swapping for this target"
#endif

#define ACCELTEL_WIRE_MAGIC 0x4c434e41u /* "ANCL" */
#define ACCELTEL_WIRE_VERSION 1
#define RECORDS_PER_DGRAM 60

enum { REC_KIND_COLL = 1, REC_KIND_P2P = 2 };
enum {
  REC_FLAG_GPU_TIMER = 1 << 0, /* exec_ns from the GPU global timer (v4+) */
  REC_FLAG_PROXY = 1 << 1,     /* completion seen through proxy ops (v1/v2) */
};

struct acceltel_hdr {
  uint32_t magic;
  uint16_t version;
  uint16_t rec_size;
  uint16_t count;
  uint16_t reserved;
  uint32_t dropped; /* records this process dropped so far (wraps) */
};

struct acceltel_rec {
  uint64_t comm_id;
  uint64_t seq;
  uint64_t bytes;         /* message size as nccl-tests defines it */
  uint64_t start_unix_ns; /* host time of the coll/p2p startEvent */
  uint64_t duration_ns;   /* start to the host seeing completion */
  uint64_t exec_ns;       /* first kernel-channel start to last stop on the GPU; 0 unknown */
  int32_t rank;
  int32_t nranks; /* 0 when the NCCL version does not say (v1..v3) */
  int32_t nnodes;
  int32_t pid;
  int32_t cuda_dev; /* -1 unknown */
  int32_t peer;     /* P2P peer; -1 for collectives */
  uint8_t kind;
  uint8_t channels;
  uint16_t flags;
  uint32_t reserved;
  char func[16];
  char datatype[16];
  char algo[16];
  char proto[8];
};

_Static_assert(sizeof(struct acceltel_hdr) == 16, "header layout");
_Static_assert(sizeof(struct acceltel_rec) == 136, "record layout");

#endif
