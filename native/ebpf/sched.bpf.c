// SPDX-License-Identifier: GPL-2.0
// Run-queue latency, off-CPU and on-CPU time, CPU migrations and memory
// reclaim stalls per cgroup v2, and block IO latency per disk and operation,
// as exponential histograms and counters.
//
// Each hook has two bodies, tp_btf and raw_tp, from one inline function: the
// receiver loads whichever the kernel accepts (tp_btf first). Both read task
// fields with CO-RE, so one object runs on every kernel with BTF.
#include "sched.h"

char LICENSE[] SEC("license") = "GPL";

// Set by the receiver before loading (config runqueue/offcpu); the verifier
// then drops the disabled half as dead code.
const volatile bool enable_runq = true;
const volatile bool enable_offcpu = true;
const volatile bool enable_oncpu = true;
const volatile bool enable_bio_cgroup = true;
const volatile bool enable_reclaim = true;
const volatile bool enable_migrations = true;

// Per-task timestamps: when it became runnable (wakeup, or preempted while
// runnable), and when it left the CPU and in which state.
struct task_ts {
	u64 runq_ts;
	u64 off_ts;
	u64 on_ts;          // switched in (on-CPU time)
	u64 oncpu_pending;  // on-CPU ns not yet added to its cgroup
	u64 reclaim_ts;     // entered direct or memcg reclaim
	u64 css;            // raw_tp: the css_set that cgid was read from
	u64 cgid;
	u32 reason;
	u32 pad;
};

// tp_btf programs get a BTF-typed task pointer and so can use task storage:
// one lookup, no hashing, freed with the task.
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ts);
} task_store SEC(".maps");

// raw_tp programs key by pid instead. A task's entry is deleted at its last
// switch-out; LRU so that a missed one still ages out.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, u32);
	__type(value, struct task_ts);
} task_by_pid SEC(".maps");

// cgroup -> its scheduler histograms, on-CPU time and migrations, in one
// value, so that a context switch costs one hash lookup rather than one per
// kind. A shared
// hash with atomic adds, not a percpu one: percpu values of ~5 KiB times
// hundreds of CPUs would cost gigabytes.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u64);
	__type(value, struct sched_cg);
} cg_sched SEC(".maps");

// (cgroup, block IO kind) -> histogram of the requests the cgroup issued.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2048);
	__type(key, struct hist_key);
	__type(value, struct hist);
} hists SEC(".maps");

// CPU -> NUMA node, filled by the receiver from sysfs before attaching.
#define MAX_CPUS 8192
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_CPUS);
	__type(key, u32);
	__type(value, u32);
} cpu_node SEC(".maps");

// Updates that found a map full; exported so that a lost sample is seen.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} dropped SEC(".maps");

static const struct hist zero_hist;
static const struct sched_cg zero_cg;

static __always_inline u64 task_cgroup(struct task_struct *t, bool btf)
{
	// The woken/next task's own cgroup: bpf_get_current_cgroup_id() would be
	// the waker's or the previous task's in these hooks. tp_btf may load the
	// fields directly; raw_tp pointers are untyped and need probe reads.
	if (btf)
		return t->cgroups->dfl_cgrp->kn->id;
	return BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
}

// tp_btf may load task fields directly; raw_tp needs a probe-read helper
// call for each, which costs more than the rest of a switch's bookkeeping.
static __always_inline s32 task_pid(struct task_struct *t, bool btf)
{
	if (btf)
		return t->pid;
	return BPF_CORE_READ(t, pid);
}

static const struct task_ts zero_ts;

// lookup_or_init returns map[key], made from zero first if absent, or NULL
// when the map is full.
static __always_inline void *lookup_or_init(void *map, const void *key, const void *zero)
{
	void *v = bpf_map_lookup_elem(map, key);
	if (v)
		return v;
	// Racing first updates: NOEXIST makes the loser use the winner's value.
	bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

// pid_ts is the raw_tp bodies' per-task state, keyed by pid.
static __always_inline struct task_ts *pid_ts(u32 pid, bool create)
{
	if (create)
		return lookup_or_init(&task_by_pid, &pid, &zero_ts);
	return bpf_map_lookup_elem(&task_by_pid, &pid);
}

// raw_tp reads every field with a probe-read helper call, four for the
// cgroup id. A task's cgroup changes only with its css_set, so the id is
// kept with the task and read again only when the css_set differs.
static __always_inline u64 task_cgroup_ts(struct task_struct *t, struct task_ts *ts, bool btf)
{
	if (btf)
		return task_cgroup(t, true);
	struct css_set *css = BPF_CORE_READ(t, cgroups);
	if ((u64)css != ts->css) {
		ts->css = (u64)css;
		ts->cgid = BPF_CORE_READ(css, dfl_cgrp, kn, id);
	}
	return ts->cgid;
}

static __always_inline struct task_ts *task_ts(struct task_struct *t, bool btf, bool create)
{
	if (btf)
		return bpf_task_storage_get(&task_store, t, 0, create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	return pid_ts(task_pid(t, false), create);
}

static __always_inline u32 task_state(struct task_struct *t, bool btf)
{
	// __state since 5.14, state before.
	if (bpf_core_field_exists(t->__state))
		return btf ? t->__state : BPF_CORE_READ(t, __state);
	struct task_struct___old *o = (void *)t;
	return (u32)BPF_CORE_READ(o, state);
}

static __always_inline void count_drop(void)
{
	u32 z = 0;
	u64 *d = bpf_map_lookup_elem(&dropped, &z);
	if (d)
		__sync_fetch_and_add(d, 1);
}

static __always_inline void hist_add(struct hist *h, u64 ns)
{
	int i = bucket(ns);
	if (i < 0)
		__sync_fetch_and_add(&h->zero, 1);
	else
		__sync_fetch_and_add(&h->slots[i < HIST_SLOTS ? i : HIST_SLOTS - 1], 1);
	__sync_fetch_and_add(&h->sum_ns, ns);
}

static __always_inline struct hist *record(u64 cgid, u32 kind, u64 ns)
{
	struct hist_key k = { .cgroup_id = cgid, .kind = kind };
	struct hist *h = lookup_or_init(&hists, &k, &zero_hist);
	if (!h) { // map full: count the loss rather than hide it
		count_drop();
		return 0;
	}
	hist_add(h, ns);
	return h;
}

static __always_inline struct sched_cg *cgroup_sched(u64 cgid)
{
	struct sched_cg *cg = lookup_or_init(&cg_sched, &cgid, &zero_cg);
	if (!cg)
		count_drop(); // map full: count the loss rather than hide it
	return cg;
}

static __always_inline void on_wakeup(struct task_struct *p, bool btf)
{
	if (!enable_runq)
		return;
	struct task_ts *ts = task_ts(p, btf, true);
	if (ts)
		ts->runq_ts = bpf_ktime_get_ns();
}

// On-CPU time is kept per task and added to its cgroup when the task is
// next switched in (the cgroup is looked up then anyway), so that a switch
// costs one map lookup, not two. A task's pending time is added at once when
// it reaches ONCPU_FLUSH_NS or the task is exiting, which bounds what a task
// that sleeps for long has not yet reported.
#define ONCPU_FLUSH_NS 1000000ULL
#define TASK_DEAD 0x80

static __always_inline void on_switch(struct task_struct *prev, struct task_struct *next, bool btf)
{
	u64 now = bpf_ktime_get_ns();
	// pid 0 is the idle task: neither its waits nor its off-CPU time matter.
	if (task_pid(prev, btf)) {
		struct task_ts *ts = task_ts(prev, btf, true);
		if (ts) {
			u32 st = task_state(prev, btf);
			// TASK_RUNNING: preempted, and it waits in the run queue from now.
			if (st == 0) {
				ts->reason = OFF_PREEMPTED;
				if (enable_runq)
					ts->runq_ts = now;
			} else {
				// TASK_UNINTERRUPTIBLE (2) is IO and lock waits.
				ts->reason = (st & 2) ? OFF_IOWAIT : OFF_SLEEP;
			}
			ts->off_ts = enable_offcpu ? now : 0;
			if (enable_oncpu && ts->on_ts && now > ts->on_ts) {
				u64 pending = ts->oncpu_pending + (now - ts->on_ts);
				if (pending >= ONCPU_FLUSH_NS || (st & TASK_DEAD)) {
					struct sched_cg *cg = cgroup_sched(task_cgroup_ts(prev, ts, btf));
					if (cg)
						__sync_fetch_and_add(&cg->oncpu_ns, pending);
					pending = 0;
				}
				ts->oncpu_pending = pending;
			}
			ts->on_ts = 0;
			// A pid-keyed entry outlives its task: the next task given the
			// pid would inherit its timestamps. Task storage goes with the task.
			if (!btf && (st & TASK_DEAD)) {
				u32 pid = task_pid(prev, false);
				bpf_map_delete_elem(&task_by_pid, &pid);
			}
		}
	}

	if (!task_pid(next, btf))
		return;
	// On-CPU time needs every task's switch-in, so its storage is made here.
	struct task_ts *ts = task_ts(next, btf, enable_oncpu);
	if (!ts)
		return;
	if (enable_oncpu)
		ts->on_ts = now;
	if (!ts->runq_ts && !ts->off_ts && !ts->oncpu_pending)
		return;
	struct sched_cg *cg = cgroup_sched(task_cgroup_ts(next, ts, btf));
	if (cg) {
		if (ts->runq_ts && now > ts->runq_ts)
			hist_add(&cg->h[KIND_RUNQ], now - ts->runq_ts);
		if (ts->off_ts && now > ts->off_ts) {
			u32 r = ts->reason;
			hist_add(&cg->h[KIND_OFFCPU_BASE + (r < OFF_IOWAIT ? r : OFF_IOWAIT)], now - ts->off_ts);
		}
		if (ts->oncpu_pending)
			__sync_fetch_and_add(&cg->oncpu_ns, ts->oncpu_pending);
	}
	ts->runq_ts = 0;
	ts->off_ts = 0;
	ts->oncpu_pending = 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup_btf, struct task_struct *p) { on_wakeup(p, true); return 0; }
SEC("raw_tp/sched_wakeup")
int BPF_PROG(sched_wakeup_raw, struct task_struct *p) { on_wakeup(p, false); return 0; }

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new_btf, struct task_struct *p) { on_wakeup(p, true); return 0; }
SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new_raw, struct task_struct *p) { on_wakeup(p, false); return 0; }

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	on_switch(prev, next, true);
	return 0;
}
SEC("raw_tp/sched_switch")
int BPF_PROG(sched_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	on_switch(prev, next, false);
	return 0;
}

// CPU migrations: set_task_cpu() moving p from its CPU to dest_cpu, counted
// for p's cgroup, split by whether the move leaves the NUMA node.
static __always_inline void on_migrate(struct task_struct *p, int dest_cpu, bool btf)
{
	if (!enable_migrations)
		return;
	u32 src, dst = dest_cpu;
	if (bpf_core_field_exists(p->thread_info.cpu)) {
		src = btf ? p->thread_info.cpu : BPF_CORE_READ(p, thread_info.cpu);
	} else {
		struct task_struct___old *o = (void *)p;
		src = BPF_CORE_READ(o, cpu);
	}
	u32 *sn = bpf_map_lookup_elem(&cpu_node, &src);
	u32 *dn = bpf_map_lookup_elem(&cpu_node, &dst);
	int remote = sn && dn && *sn != *dn;
	struct sched_cg *cg = cgroup_sched(task_cgroup(p, btf));
	if (cg)
		__sync_fetch_and_add(&cg->migrations[remote], 1);
}

SEC("tp_btf/sched_migrate_task")
int BPF_PROG(sched_migrate_task_btf, struct task_struct *p, int dest_cpu)
{
	on_migrate(p, dest_cpu, true);
	return 0;
}
SEC("raw_tp/sched_migrate_task")
int BPF_PROG(sched_migrate_task_raw, struct task_struct *p, int dest_cpu)
{
	on_migrate(p, dest_cpu, false);
	return 0;
}

// Memory reclaim stalls: the time the current task spends in direct reclaim
// (the system is short of memory) or memcg reclaim (its cgroup is at its
// limit), begin to end, per its cgroup.
static __always_inline struct task_ts *current_ts(bool btf, bool create)
{
	if (btf)
		return bpf_task_storage_get(&task_store, bpf_get_current_task_btf(), 0,
					    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	return pid_ts((u32)bpf_get_current_pid_tgid(), create);
}

static __always_inline void reclaim_begin(bool btf)
{
	if (!enable_reclaim)
		return;
	struct task_ts *ts = current_ts(btf, true);
	if (ts)
		ts->reclaim_ts = bpf_ktime_get_ns();
}

static __always_inline void reclaim_end(bool btf)
{
	if (!enable_reclaim)
		return;
	struct task_ts *ts = current_ts(btf, false);
	if (!ts || !ts->reclaim_ts)
		return;
	u64 now = bpf_ktime_get_ns();
	if (now > ts->reclaim_ts)
		record(bpf_get_current_cgroup_id(), KIND_RECLAIM, now - ts->reclaim_ts);
	ts->reclaim_ts = 0;
}

SEC("tp_btf/mm_vmscan_direct_reclaim_begin")
int BPF_PROG(direct_reclaim_begin_btf) { reclaim_begin(true); return 0; }
SEC("raw_tp/mm_vmscan_direct_reclaim_begin")
int BPF_PROG(direct_reclaim_begin_raw) { reclaim_begin(false); return 0; }
SEC("tp_btf/mm_vmscan_direct_reclaim_end")
int BPF_PROG(direct_reclaim_end_btf) { reclaim_end(true); return 0; }
SEC("raw_tp/mm_vmscan_direct_reclaim_end")
int BPF_PROG(direct_reclaim_end_raw) { reclaim_end(false); return 0; }

SEC("tp_btf/mm_vmscan_memcg_reclaim_begin")
int BPF_PROG(memcg_reclaim_begin_btf) { reclaim_begin(true); return 0; }
SEC("raw_tp/mm_vmscan_memcg_reclaim_begin")
int BPF_PROG(memcg_reclaim_begin_raw) { reclaim_begin(false); return 0; }
SEC("tp_btf/mm_vmscan_memcg_reclaim_end")
int BPF_PROG(memcg_reclaim_end_btf) { reclaim_end(true); return 0; }
SEC("raw_tp/mm_vmscan_memcg_reclaim_end")
int BPF_PROG(memcg_reclaim_end_raw) { reclaim_end(false); return 0; }

// Block IO: request pointer -> issue time and the issuing task's cgroup.
// Requests are few and short-lived.
struct bio_start_val {
	u64 ts;
	u64 cgroup_id;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, u64);
	__type(value, struct bio_start_val);
} bio_start SEC(".maps");

// Request pointer -> cgroup of the task that made it from a bio
// (block_io_start, Linux 6.5+). block_rq_issue runs in whichever task
// dispatches the request: behind an IO scheduler, often another
// application or a kworker. Kept apart from bio_start, so that a request
// whose block_io_start reached no program still counts, to the dispatcher.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, u64);
	__type(value, u64);
} bio_owner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct bio_key);
	__type(value, struct bio_hist);
} bio_hists SEC(".maps");

static const struct bio_hist zero_bio;

static __always_inline void on_start(struct request *rq)
{
	if (!enable_bio_cgroup)
		return;
	u64 k = (u64)rq;
	u64 cgid = bpf_get_current_cgroup_id();
	if (bpf_map_update_elem(&bio_owner, &k, &cgid, BPF_ANY))
		count_drop();
}

static __always_inline void on_issue(struct request *rq)
{
	u64 k = (u64)rq;
	// An entry still here is a request whose completion the programs did
	// not see (measured on Linux 6.18 under heavy concurrent IO: up to 1% of
	// completions that tracefs saw reached no BPF program), or one requeued.
	if (bpf_map_lookup_elem(&bio_start, &k))
		count_drop();
	struct bio_start_val v = {
		.ts = bpf_ktime_get_ns(),
		.cgroup_id = enable_bio_cgroup ? bpf_get_current_cgroup_id() : 0,
	};
	if (bpf_map_update_elem(&bio_start, &k, &v, BPF_ANY))
		count_drop();
}

static __always_inline void on_complete(struct request *rq, unsigned int nr_bytes, bool btf)
{
	u64 k = (u64)rq;
	struct bio_start_val *v = bpf_map_lookup_elem(&bio_start, &k);
	if (!v)
		return;
	u64 ns = bpf_ktime_get_ns() - v->ts;
	u64 cgid = v->cgroup_id;
	bpf_map_delete_elem(&bio_start, &k);
	u64 *owner = enable_bio_cgroup ? bpf_map_lookup_elem(&bio_owner, &k) : NULL;
	if (owner) {
		cgid = *owner;
		bpf_map_delete_elem(&bio_owner, &k);
	}

	struct bio_key bk;
	if (btf) {
		struct gendisk *d = rq->q->disk;
		bk.dev = ((u32)d->major << 20) | (u32)d->first_minor;
		bk.op = rq->cmd_flags & 0xff; // REQ_OP_MASK
	} else {
		struct gendisk *d = BPF_CORE_READ(rq, q, disk);
		bk.dev = ((u32)BPF_CORE_READ(d, major) << 20) | (u32)BPF_CORE_READ(d, first_minor);
		bk.op = BPF_CORE_READ(rq, cmd_flags) & 0xff;
	}
	struct bio_hist *h = lookup_or_init(&bio_hists, &bk, &zero_bio);
	if (!h) {
		count_drop();
		return;
	}
	hist_add(&h->h, ns);
	__sync_fetch_and_add(&h->bytes, nr_bytes);

	if (enable_bio_cgroup && cgid) {
		u32 op = bk.op < KIND_BIO_OTHER ? bk.op : KIND_BIO_OTHER;
		struct hist *ch = record(cgid, KIND_BIO_BASE + op, ns);
		if (ch)
			__sync_fetch_and_add(&ch->bytes, nr_bytes);
	}
}

SEC("tp_btf/block_io_start")
int BPF_PROG(block_io_start_btf, struct request *rq) { on_start(rq); return 0; }
SEC("raw_tp/block_io_start")
int BPF_PROG(block_io_start_raw, struct request *rq) { on_start(rq); return 0; }

SEC("tp_btf/block_rq_issue")
int BPF_PROG(block_rq_issue_btf, struct request *rq) { on_issue(rq); return 0; }
SEC("raw_tp/block_rq_issue")
int BPF_PROG(block_rq_issue_raw, struct request *rq) { on_issue(rq); return 0; }

SEC("tp_btf/block_rq_complete")
int BPF_PROG(block_rq_complete_btf, struct request *rq, int error, unsigned int nr_bytes)
{
	on_complete(rq, nr_bytes, true);
	return 0;
}
SEC("raw_tp/block_rq_complete")
int BPF_PROG(block_rq_complete_raw, struct request *rq, int error, unsigned int nr_bytes)
{
	on_complete(rq, nr_bytes, false);
	return 0;
}
