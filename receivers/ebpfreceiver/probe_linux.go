//go:build linux

package ebpfreceiver // import "github.com/acceltel/acceltel/receivers/ebpfreceiver"

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// hook is one tracepoint and the two programs that can serve it.
type hook struct {
	tracepoint string
	progs      map[string]string // attach method -> program name
	signal     int               // which config switch needs it
	// optional hooks may be missing from a kernel (the memcg tracepoints
	// without CONFIG_MEMCG): the receiver runs without them and says so.
	optional bool
}

const (
	sigRunQueue = iota // run-queue latency only
	sigSched           // run-queue latency, off-CPU or on-CPU time
	sigBlockIO
	sigBlockIOCgroup
	sigReclaim
	sigMigrations
)

// btfRaw names a hook's two programs, <name>_btf and <name>_raw.
func btfRaw(name string) map[string]string {
	return map[string]string{methodTPBTF: name + "_btf", methodRawTP: name + "_raw"}
}

var hooks = []hook{
	{tracepoint: "sched_wakeup", signal: sigRunQueue, progs: btfRaw("sched_wakeup")},
	{tracepoint: "sched_wakeup_new", signal: sigRunQueue, progs: btfRaw("sched_wakeup_new")},
	{tracepoint: "sched_switch", signal: sigSched, progs: btfRaw("sched_switch")},
	{tracepoint: "block_rq_issue", signal: sigBlockIO, progs: btfRaw("block_rq_issue")},
	{tracepoint: "block_rq_complete", signal: sigBlockIO, progs: btfRaw("block_rq_complete")},
	// Linux 6.5+; without it block IO counts to the cgroup of the task that
	// dispatches the request.
	{tracepoint: "block_io_start", signal: sigBlockIOCgroup, optional: true, progs: btfRaw("block_io_start")},
	{tracepoint: "sched_migrate_task", signal: sigMigrations, progs: btfRaw("sched_migrate_task")},
	{tracepoint: "mm_vmscan_direct_reclaim_begin", signal: sigReclaim, optional: true, progs: btfRaw("direct_reclaim_begin")},
	{tracepoint: "mm_vmscan_direct_reclaim_end", signal: sigReclaim, optional: true, progs: btfRaw("direct_reclaim_end")},
	{tracepoint: "mm_vmscan_memcg_reclaim_begin", signal: sigReclaim, optional: true, progs: btfRaw("memcg_reclaim_begin")},
	{tracepoint: "mm_vmscan_memcg_reclaim_end", signal: sigReclaim, optional: true, progs: btfRaw("memcg_reclaim_end")},
}

// enabled reports whether the configuration needs the hook.
func (h *hook) enabled(cfg *Config) bool {
	switch h.signal {
	case sigRunQueue:
		return cfg.RunQueue.Enabled
	case sigSched:
		return cfg.RunQueue.Enabled || cfg.OffCPU.Enabled || cfg.OnCPU.Enabled
	case sigBlockIO:
		return cfg.BlockIO.Enabled
	case sigBlockIOCgroup:
		return cfg.BlockIO.Enabled && cfg.BlockIO.PerCgroup
	case sigReclaim:
		return cfg.Reclaim.Enabled
	default:
		return cfg.Migrations.Enabled
	}
}

// attachedProg is a program in the kernel and the link that keeps it attached.
type attachedProg struct {
	name, tracepoint, method string
	prog                     *ebpf.Program
	link                     link.Link
}

// probe is the loaded BPF object: shared maps and one program per hook.
type probe struct {
	maps    map[string]*ebpf.Map
	progs   []attachedProg
	stats   io.Closer // BPF run-time statistics, nil where not allowed
	skipped string    // why an attach method was ruled out before trying
	missing []error   // optional hooks this kernel could not attach

	sched mapReader[uint64, schedSchedCg]
	hists mapReader[schedHistKey, schedHist]
	bio   mapReader[schedBioKey, schedBioHist]
}

func loadProbe(cfg *Config) (_ *probe, err error) {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return nil, errNoBTF
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; needs CAP_SYS_RESOURCE.
	_ = rlimit.RemoveMemlock()

	spec, err := loadSched()
	if err != nil {
		return nil, fmt.Errorf("parse BPF object: %w", err)
	}
	if err := spec.Variables["enable_runq"].Set(cfg.RunQueue.Enabled); err != nil {
		return nil, err
	}
	for name, v := range map[string]bool{
		"enable_offcpu":     cfg.OffCPU.Enabled,
		"enable_oncpu":      cfg.OnCPU.Enabled,
		"enable_bio_cgroup": cfg.BlockIO.PerCgroup,
		"enable_reclaim":    cfg.Reclaim.Enabled,
		"enable_migrations": cfg.Migrations.Enabled,
	} {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, err
		}
	}

	spec.Maps["cg_sched"].MaxEntries = uint32(cfg.KernelCgroups)
	spec.Maps["hists"].MaxEntries = uint32(2 * cfg.KernelCgroups)
	p := &probe{maps: map[string]*ebpf.Map{}}
	defer func() {
		if err != nil {
			_ = p.Close() // already failing: the load error is the one to report
		}
	}()
	methods := cfg.AttachMethods
	for name, ms := range spec.Maps {
		if strings.HasPrefix(name, ".") { // .rodata and friends: per program
			continue
		}
		m, err := ebpf.NewMap(ms)
		if err != nil && name == "task_store" {
			// Task storage for tracing programs is Linux 5.11+; without it
			// only the raw_tp bodies (pid-keyed) can run.
			methods = slices.DeleteFunc(slices.Clone(methods), func(m string) bool { return m == methodTPBTF })
			p.skipped = fmt.Sprintf("tp_btf: %v", explain(err))
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create BPF map %s: %w", name, explain(err))
		}
		p.maps[name] = m
	}
	if len(methods) == 0 {
		return nil, errors.New(p.skipped)
	}
	if cfg.Migrations.Enabled {
		if err := fillCPUNodes(p.maps["cpu_node"], filepath.Join(cfg.RootPath, "/sys/devices/system/node")); err != nil {
			return nil, fmt.Errorf("cpu_node: %w", err)
		}
	}
	for _, h := range hooks {
		if !h.enabled(cfg) {
			continue
		}
		ap, err := attachHook(spec, h, methods, p.maps)
		if err != nil && h.optional {
			p.missing = append(p.missing, err)
			continue
		}
		if err != nil {
			return nil, err
		}
		p.progs = append(p.progs, ap)
	}
	// Run-time statistics cost two clock reads per event; they are what the
	// acceltel.ebpf.program.* metrics report. Refused without CAP_SYS_ADMIN.
	if c, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err == nil {
		p.stats = c
	}
	return p, nil
}

// attachHook tries the configured attach methods in order and keeps the first
// that both loads and attaches.
func attachHook(spec *ebpf.CollectionSpec, h hook, methods []string, shared map[string]*ebpf.Map) (attachedProg, error) {
	var errs []error
	for _, m := range methods {
		name := h.progs[m]
		ap, err := loadOne(spec, name, shared)
		if err == nil {
			ap.tracepoint, ap.method = h.tracepoint, m
			if m == methodTPBTF {
				ap.link, err = link.AttachTracing(link.TracingOptions{Program: ap.prog})
			} else {
				ap.link, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: h.tracepoint, Program: ap.prog})
			}
			if err == nil {
				return ap, nil
			}
			_ = ap.prog.Close() // this attach method failed; the next one is tried
		}
		errs = append(errs, fmt.Errorf("%s: %w", m, explain(err)))
	}
	return attachedProg{}, fmt.Errorf("attach %s: %w", h.tracepoint, errors.Join(errs...))
}

// loadOne loads one program of spec against the already created maps; the
// other programs of the object stay out of the kernel.
func loadOne(spec *ebpf.CollectionSpec, name string, shared map[string]*ebpf.Map) (attachedProg, error) {
	cs := spec.Copy()
	for n := range cs.Programs {
		if n != name {
			delete(cs.Programs, n)
		}
	}
	for n := range cs.Maps {
		if _, ok := shared[n]; !ok && n[0] != '.' {
			delete(cs.Maps, n)
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(cs, ebpf.CollectionOptions{MapReplacements: shared})
	if err != nil {
		return attachedProg{}, err
	}
	defer coll.Close()
	return attachedProg{name: name, prog: coll.DetachProgram(name)}, nil
}

// Close detaches and unloads everything; safe on a partly loaded probe.
func (p *probe) Close() error {
	var errs []error
	for _, ap := range p.progs {
		if ap.link != nil {
			errs = append(errs, ap.link.Close())
		}
		errs = append(errs, ap.prog.Close())
	}
	p.progs = nil
	if p.stats != nil {
		errs = append(errs, p.stats.Close())
		p.stats = nil
	}
	for _, m := range p.maps {
		errs = append(errs, m.Close())
	}
	p.maps = nil
	return errors.Join(errs...)
}

// batchSize is the most entries one BPF_MAP_LOOKUP_BATCH call returns.
const batchSize = 256

// mapReader reads one map with BPF_MAP_LOOKUP_BATCH (Linux 5.6+), a batch of
// entries per system call, or entry by entry where the kernel cannot. Not
// BatchLookupAndDelete: the kernel's values are cumulative and stay.
type mapReader[K, V any] struct {
	keys    []K
	vals    []V
	noBatch bool // the kernel lacks the batch API for this map: iterate
}

func (r *mapReader[K, V]) read(m *ebpf.Map, fn func(*K, *V)) error {
	if !r.noBatch {
		if r.keys == nil {
			r.keys, r.vals = make([]K, batchSize), make([]V, batchSize)
		}
		var cursor ebpf.MapBatchCursor
		for first := true; ; first = false {
			n, err := m.BatchLookup(&cursor, r.keys, r.vals, nil)
			for i := range n {
				fn(&r.keys[i], &r.vals[i])
			}
			switch {
			case errors.Is(err, ebpf.ErrKeyNotExist): // the end, after the last n
				return nil
			case first && n == 0 && errors.Is(err, ebpf.ErrNotSupported):
				r.noBatch = true
			case err != nil:
				return err
			default:
				continue
			}
			break
		}
	}
	var (
		k K
		v V
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		fn(&k, &v)
	}
	return it.Err()
}

// fillCPUNodes writes each CPU's NUMA node into the cpu_node map.
func fillCPUNodes(m *ebpf.Map, dir string) error {
	nodes, err := cpuNodes(dir)
	if err != nil {
		return err
	}
	for cpu, node := range nodes {
		if err := m.Put(cpu, node); err != nil {
			return err
		}
	}
	return nil
}

// readCgroups calls hist for every non-empty (cgroup, kind) histogram and
// count for every cgroup's counters.
func (p *probe) readCgroups(hist func(k *schedHistKey, h *schedHist), count func(id uint64, c *cgroupCounters)) error {
	err := p.sched.read(p.maps["cg_sched"], func(id *uint64, v *schedSchedCg) {
		for kind := range v.H {
			if h := &v.H[kind]; !h.empty() {
				hist(&schedHistKey{CgroupId: *id, Kind: uint32(kind)}, h)
			}
		}
		if c := (cgroupCounters{onCPUNs: v.OncpuNs, migrations: v.Migrations}); c != (cgroupCounters{}) {
			count(*id, &c)
		}
	})
	return errors.Join(err, p.hists.read(p.maps["hists"], hist))
}

// readBio calls fn for every (disk, operation) block IO histogram.
func (p *probe) readBio(fn func(k *schedBioKey, h *schedBioHist)) error {
	return p.bio.read(p.maps["bio_hists"], fn)
}

func (p *probe) dropped() uint64 {
	var v uint64
	_ = p.maps["dropped"].Lookup(uint32(0), &v)
	return v
}

// progStats is the run count and run time of one attached program.
type progStats struct {
	name, method string
	runs         uint64
	runTimeNs    uint64
}

func (p *probe) programStats() []progStats {
	if p.stats == nil {
		return nil
	}
	out := make([]progStats, 0, len(p.progs))
	for _, ap := range p.progs {
		st, err := ap.prog.Stats()
		if err != nil {
			continue
		}
		out = append(out, progStats{name: ap.name, method: ap.method, runs: st.RunCount, runTimeNs: uint64(st.Runtime)})
	}
	return out
}

// attachMethods lists (tracepoint, attach method) of every attached program.
func (p *probe) attachMethods() [][2]string {
	out := make([][2]string, 0, len(p.progs))
	for _, ap := range p.progs {
		out = append(out, [2]string{ap.tracepoint, ap.method})
	}
	return out
}

func (p *probe) hasStats() bool    { return p.stats != nil }
func (p *probe) unattached() error { return errors.Join(p.missing...) }
func (p *probe) ruledOut() string  { return p.skipped }

// deleteCgroup frees a cgroup's entries in the kernel maps.
func (p *probe) deleteCgroup(id uint64) {
	_ = p.maps["cg_sched"].Delete(id)
	for kind := uint32(kindBioBase); kind <= kindBioBase+bioOpOther; kind++ {
		_ = p.maps["hists"].Delete(&schedHistKey{CgroupId: id, Kind: kind})
	}
	_ = p.maps["hists"].Delete(&schedHistKey{CgroupId: id, Kind: kindReclaim})
}
