package ncclreceiver // import "github.com/acceltel/acceltel/receivers/ncclreceiver"

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// NCCL Inspector (NVIDIA's profiler plugin in nccl/ext-profiler/inspector)
// writes, with NCCL_INSPECTOR_PROM_DUMP unset, one JSON object per line and
// per collective to <NCCL_INSPECTOR_DUMP_DIR>/<hostname>-pid<pid>.log
// (its exporter also reads *.jsonl). The fields, from its README ("Output
// Example", inspector_output_format_version v4.0):
//
//	{"header":   {"id": "0x7f8c496ae9f661", "rank": 2, "n_ranks": 8, "nnodes": 1},
//	 "metadata": {"inspector_output_format_version": "v4.0", "git_rev": "", "rec_mechanism": "...",
//	              "dump_timestamp_us": 1748030377748202, "hostname": "...", "pid": 1639453},
//	 "coll_perf": {"coll": "AllReduce", "coll_sn": 1407, "coll_msg_size_bytes": 17179869184,
//	              "coll_exec_time_us": 61974, "coll_timing_source": "kernel_gpu",
//	              "coll_algobw_gbs": 277.210914, "coll_busbw_gbs": 485.119099,
//	              "event_trace_ts": {"coll_start_ts": ..., "kernel_events": [{"kernel_stop_ts": ...}]}}}
//
// event_trace_ts (µs, host clock) is only there with
// NCCL_INSPECTOR_DUMP_VERBOSE=1; without it a record has no start, and
// counts toward everything but the completion spread.
type inspectorLine struct {
	Header *struct {
		ID     string `json:"id"`
		Rank   int32  `json:"rank"`
		NRanks int32  `json:"n_ranks"`
		NNodes int32  `json:"nnodes"`
	} `json:"header"`
	Metadata struct {
		PID int32 `json:"pid"`
	} `json:"metadata"`
	CollPerf *struct {
		Coll         string  `json:"coll"`
		SN           uint64  `json:"coll_sn"`
		MsgSize      uint64  `json:"coll_msg_size_bytes"`
		ExecTimeUs   float64 `json:"coll_exec_time_us"`
		EventTraceTs *struct {
			CollStartTs  uint64 `json:"coll_start_ts"`
			KernelEvents []struct {
				KernelStopTs uint64 `json:"kernel_stop_ts"`
			} `json:"kernel_events"`
		} `json:"event_trace_ts"`
	} `json:"coll_perf"`
}

// parseInspectorLine turns one line into a record, as the profiler plugin
// would have sent it; the pid is the one the job saw (metadata.pid).
func parseInspectorLine(line []byte) (record, error) {
	var l inspectorLine
	if err := json.Unmarshal(line, &l); err != nil {
		return record{}, err
	}
	if l.Header == nil || l.CollPerf == nil || l.CollPerf.Coll == "" {
		return record{}, errors.New("no header or coll_perf")
	}
	id, err := strconv.ParseUint(strings.TrimPrefix(l.Header.ID, "0x"), 16, 64)
	if err != nil {
		return record{}, fmt.Errorf("header.id %q: %w", l.Header.ID, err)
	}
	cp := l.CollPerf
	if len(cp.Coll) >= 16 {
		return record{}, fmt.Errorf("coll %q too long", cp.Coll)
	}
	if cp.ExecTimeUs < 0 || cp.ExecTimeUs > float64(maxDuration)/1e3 {
		return record{}, fmt.Errorf("coll_exec_time_us %v", cp.ExecTimeUs)
	}
	r := record{
		CommID: id, Seq: cp.SN, Bytes: cp.MsgSize,
		Rank: l.Header.Rank, NRanks: l.Header.NRanks, NNodes: l.Header.NNodes,
		PID: l.Metadata.PID, CUDADev: -1, Peer: -1, Kind: kindColl,
		// Inspector's bandwidths divide by coll_exec_time_us; so do ours.
		ExecNs: uint64(math.Round(cp.ExecTimeUs * 1e3)), Flags: flagGPUTimer,
	}
	copy(r.Func[:], cp.Coll)
	// Inspector gives all-gather and reduce-scatter sizes per rank; nccl-tests
	// (and the plugin's records) count the whole buffer. The README's
	// ReduceScatter example shows it: 2147483648 B in 41057 µs at an algbw of
	// 418.44 GB/s is 8 (n_ranks) times the per-rank size.
	if (strings.EqualFold(cp.Coll, "AllGather") || strings.EqualFold(cp.Coll, "ReduceScatter")) && r.NRanks > 0 {
		hi, lo := bits.Mul64(r.Bytes, uint64(r.NRanks))
		if hi != 0 {
			return record{}, fmt.Errorf("coll_msg_size_bytes %d times %d ranks overflows", r.Bytes, r.NRanks)
		}
		r.Bytes = lo
	}
	r.DurationNs = r.ExecNs
	if tr := cp.EventTraceTs; tr != nil && tr.CollStartTs > 0 {
		var stop uint64
		for _, k := range tr.KernelEvents {
			stop = max(stop, k.KernelStopTs)
		}
		// Microseconds to nanoseconds, without wrapping around.
		if tr.CollStartTs > math.MaxUint64/1000 {
			return record{}, fmt.Errorf("coll_start_ts %d out of range", tr.CollStartTs)
		}
		r.StartUnixNs = tr.CollStartTs * 1000
		if stop > tr.CollStartTs {
			if stop-tr.CollStartTs > maxDuration/1000 {
				return record{}, errors.New("duration over a day")
			}
			r.DurationNs = (stop - tr.CollStartTs) * 1000 // host start to last channel done
		}
	}
	if why := r.check(); why != "" {
		return record{}, errors.New(why)
	}
	return r, nil
}

const (
	// maxPartial bounds a line without its newline yet; longer is garbage.
	maxPartial = 1 << 20
	// maxPollBytes is what one poll reads of one file at most, so a large
	// new file is taken in steps and the records of one poll stay bounded.
	maxPollBytes = 16 << 20
)

type tailFile struct {
	ino     uint64
	offset  int64
	partial []byte
}

// inspectorTailer reads the lines appended to the Inspector files of a
// directory since the last poll.
type inspectorTailer struct {
	dir   string
	files map[string]*tailFile
	first bool // the first poll starts existing files at their end
}

func newInspectorTailer(dir string) *inspectorTailer {
	return &inspectorTailer{dir: dir, files: map[string]*tailFile{}, first: true}
}

// poll calls line for every complete new line. A file that got shorter or
// was replaced (another inode) is read again from its start. Files present
// at the first poll start at their end: a restarted collector does not
// replay a job's history into its cumulative counts.
func (t *inspectorTailer) poll(line func(path string, b []byte)) error {
	var paths []string
	for _, pat := range []string{"*.log", "*.jsonl"} {
		m, err := filepath.Glob(filepath.Join(t.dir, pat))
		if err != nil {
			return err
		}
		paths = append(paths, m...)
	}
	first := t.first
	t.first = false
	seen := make(map[string]bool, len(paths))
	var errs []error
	for _, p := range paths {
		seen[p] = true
		if err := t.read(p, first, line); err != nil {
			errs = append(errs, err)
		}
	}
	for p := range t.files {
		if !seen[p] {
			delete(t.files, p)
		}
	}
	return errors.Join(errs...)
}

func (t *inspectorTailer) read(path string, first bool, line func(string, []byte)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }() // read-only
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	tf := t.files[path]
	switch {
	case tf == nil:
		tf = &tailFile{ino: ino}
		if first {
			tf.offset = fi.Size()
		}
		t.files[path] = tf
	case tf.ino != ino || fi.Size() < tf.offset: // rotated or truncated
		*tf = tailFile{ino: ino}
	}
	if fi.Size() == tf.offset {
		return nil
	}
	if _, err := f.Seek(tf.offset, io.SeekStart); err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	for read := 0; read < maxPollBytes; {
		n, err := f.Read(buf)
		if n > 0 {
			read += n
			tf.offset += int64(n)
			data := buf[:n]
			for {
				i := bytes.IndexByte(data, '\n')
				if i < 0 {
					tf.partial = append(tf.partial, data...)
					if len(tf.partial) > maxPartial {
						line(path, tf.partial) // counted as malformed
						tf.partial = tf.partial[:0]
					}
					break
				}
				if len(tf.partial) > 0 {
					tf.partial = append(tf.partial, data[:i]...)
					line(path, tf.partial)
					tf.partial = tf.partial[:0]
				} else {
					line(path, data[:i])
				}
				data = data[i+1:]
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil // the rest at the next poll
}

// tailLoop polls the Inspector directory until done is closed.
func (r *ncclReceiver) tailLoop(t *inspectorTailer, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(r.cfg.Inspector.PollInterval)
	defer tick.Stop()
	var lastErr, lastPollErr time.Time
	for {
		r.pollInspector(t, &lastErr, &lastPollErr)
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

func (r *ncclReceiver) pollInspector(t *inspectorTailer, lastErr, lastPollErr *time.Time) {
	var recs []record
	bad := 0
	var firstErr error
	err := t.poll(func(path string, b []byte) {
		if len(bytes.TrimSpace(b)) == 0 {
			return
		}
		rec, err := parseInspectorLine(b)
		if err != nil {
			if bad == 0 {
				firstErr = fmt.Errorf("%s: %w", filepath.Base(path), err)
			}
			bad++
			return
		}
		recs = append(recs, rec)
	})
	now := time.Now()
	if err != nil && now.Sub(*lastPollErr) > 10*time.Second {
		*lastPollErr = now
		r.logger.Warn("reading NCCL Inspector files", zap.String("directory", t.dir), zap.Error(err))
	}
	r.mu.Lock()
	for i := range recs {
		// No attribution: the pid is the job's own, maybe in another pid
		// namespace than the collector's.
		r.st.add(recs[i].PID, recs[i:i+1], 0, now, nil)
	}
	if r.onRecords != nil && len(recs) > 0 {
		r.onRecords(-1, recs)
	}
	if bad > 0 {
		r.st.malformed["json"] += int64(bad)
	}
	r.mu.Unlock()
	if bad > 0 && now.Sub(*lastErr) > 10*time.Second {
		*lastErr = now
		r.logger.Warn("dropping malformed NCCL Inspector lines", zap.Int("lines", bad), zap.Error(firstErr))
	}
}
