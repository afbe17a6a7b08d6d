// SPDX-License-Identifier: GPL-2.0
// Types shared by sched.bpf.c and, through bpf2go, the Go receiver. Only the
// kernel fields the programs read are declared: CO-RE relocates them against
// the running kernel's BTF, so no vmlinux.h is needed.
#pragma once

typedef unsigned char u8;
typedef unsigned int u32;
typedef int s32;
typedef unsigned long long u64;
typedef _Bool bool;
#define true 1
#define false 0

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

struct kernfs_node { u64 id; } __attribute__((preserve_access_index));
struct cgroup { struct kernfs_node *kn; } __attribute__((preserve_access_index));
struct css_set { struct cgroup *dfl_cgrp; } __attribute__((preserve_access_index));
struct thread_info { u32 cpu; } __attribute__((preserve_access_index));
struct task_struct {
	struct thread_info thread_info; // cpu here since 5.16
	unsigned int __state;
	s32 pid;
	struct css_set *cgroups;
} __attribute__((preserve_access_index));
struct task_struct___old {
	long state;
	unsigned int cpu; // before 5.16
} __attribute__((preserve_access_index));
struct gendisk { int major; int first_minor; } __attribute__((preserve_access_index));
struct request_queue { struct gendisk *disk; } __attribute__((preserve_access_index));
struct request {
	struct request_queue *q;
	unsigned int cmd_flags;
} __attribute__((preserve_access_index));

// Histogram kinds, one series each per cgroup.
enum {
	KIND_RUNQ = 0,
	KIND_OFFCPU_BASE = 1, // + OFF_* reason
	KIND_BIO_BASE = 4,    // + REQ_OP_* 0..3, or + KIND_BIO_OTHER: block IO per issuing cgroup
	KIND_BIO_OTHER = 4,
	KIND_RECLAIM = 9, // direct and memcg reclaim stalls
};
enum { OFF_PREEMPTED = 0, OFF_SLEEP = 1, OFF_IOWAIT = 2 };

// Exponential buckets of scale 2 (base 2^(1/4)) over durations in units of
// 2^-30 s, so that bucket boundaries are exact powers of two in seconds and the
// receiver emits them as an OTel exponential histogram without rebucketing.
// Slot i holds index HIST_MIN_INDEX + i; below 2^HIST_MIN_LOG2 units (~60 ns)
// counts as zero (the histogram's zero threshold); 2^42 units (~68 min) and
// more land in the top slot, which no scheduling delay reaches.
#define HIST_SCALE 2
#define HIST_MIN_LOG2 6
#define HIST_MAX_LOG2 42
#define HIST_SLOTS ((HIST_MAX_LOG2 - HIST_MIN_LOG2) << HIST_SCALE)
#define HIST_MIN_INDEX (HIST_MIN_LOG2 << HIST_SCALE)
#define UNITS_LOG2_PER_SEC 30

struct hist_key {
	u64 cgroup_id;
	u32 kind;
	u32 pad;
};

struct hist {
	u64 slots[HIST_SLOTS];
	u64 zero;
	u64 sum_ns;
	u64 bytes; // block IO kinds only
};

#define SCHED_KINDS 4 // KIND_RUNQ and the three off-CPU reasons

// A cgroup's scheduler signals: histograms by kind, on-CPU ns, and CPU
// migrations of its tasks within a NUMA node [0] and across nodes [1].
struct sched_cg {
	struct hist h[SCHED_KINDS];
	u64 oncpu_ns;
	u64 migrations[2];
};

// Block IO series: per disk (MKDEV(major, first_minor)) and REQ_OP_*.
struct bio_key {
	u32 dev;
	u32 op;
};

struct bio_hist {
	struct hist h;
	u64 bytes;
};

static __always_inline int log2_u64(u64 v)
{
	int r = 0;
	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) { r += 1; }
	return r;
}

// bucket returns the slot of a duration in ns, or -1 for the zero bucket.
static __always_inline int bucket(u64 ns)
{
	// ns * 2^30 / 1e9 = ns * 1.073741824; 4833/65536 = 0.0737457 (error 4e-6).
	u64 u = ns + ((ns * 4833) >> 16);
	if (u <= (1ULL << HIST_MIN_LOG2))
		return -1;
	// OTel buckets are (base^i, base^(i+1)]: bucket u-1 with floor semantics.
	u64 w = u - 1;
	int l = log2_u64(w);
	// Top 17 bits of w give its position within [2^l, 2^(l+1)) to 1/65536,
	// finer than the ns-to-units conversion above; 9 bits put a value up to
	// 0.3% above a boundary in the bucket below it.
	u64 m = l >= 16 ? w >> (l - 16) : w << (16 - l);
	int sub = (m >= 77936) + (m >= 92682) + (m >= 110218); // 65536 * 2^(k/4), rounded up
	return (l << HIST_SCALE) + sub - HIST_MIN_INDEX;
}
