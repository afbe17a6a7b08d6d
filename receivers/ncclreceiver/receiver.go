package ncclreceiver // import "github.com/acceltel/acceltel/receivers/ncclreceiver"

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/acceltel/acceltel/internal/attribution"
	"github.com/acceltel/acceltel/receivers/ncclreceiver/internal/metadata"
)

type ncclReceiver struct {
	cfg    *Config
	logger *zap.Logger
	mb     *metadata.MetricsBuilder
	start0 pcommon.Timestamp

	conn      *net.UnixConn
	available bool
	done      chan struct{}

	tailStop, tailDone chan struct{} // the Inspector tailer, when configured

	mu sync.Mutex // guards st, reader against scrape
	st *state

	onRecords func(pid int32, recs []record) // test hook, called under mu
}

func newNCCLReceiver(cfg *Config, set receiver.Settings) *ncclReceiver {
	return &ncclReceiver{
		cfg:    cfg,
		logger: set.Logger,
		mb:     metadata.NewMetricsBuilder(cfg.MetricsBuilderConfig, set),
		start0: pcommon.NewTimestampFromTime(time.Now()),
		st:     newStateFor(cfg),
	}
}

func newStateFor(cfg *Config) *state {
	st := newState()
	st.spread = newSpreadTracker(cfg.CompletionSpread.MaxWait, cfg.CompletionSpread.MaxPending)
	return st
}

// start never fails for a socket it cannot create: the collector keeps
// running the node's other receivers and this one reports itself idle.
func (r *ncclReceiver) start(_ context.Context, host component.Host) error {
	conn, err := listen(r.cfg.SocketPath)
	attrs := pcommon.NewMap()
	attrs.PutStr("acceltel.socket", r.cfg.SocketPath)
	if err != nil {
		attrs.PutBool("acceltel.available", false)
		attrs.PutStr("acceltel.reason", err.Error())
		r.logger.Error("cannot listen for NCCL profiler records; the receiver stays idle until restarted", zap.Error(err))
	} else {
		r.conn, r.available = conn, true
		attrs.PutBool("acceltel.available", true)
		r.logger.Info("listening for NCCL profiler records", zap.String("socket", r.cfg.SocketPath))
		r.done = make(chan struct{})
		go r.readLoop()
	}
	if r.cfg.Inspector.Directory != "" {
		r.logger.Info("tailing NCCL Inspector files", zap.String("directory", r.cfg.Inspector.Directory))
		r.tailStop, r.tailDone = make(chan struct{}), make(chan struct{})
		go r.tailLoop(newInspectorTailer(r.cfg.Inspector.Directory), r.tailStop, r.tailDone)
	}
	if host != nil {
		componentstatus.ReportStatus(host, componentstatus.NewEvent(componentstatus.StatusOK, componentstatus.WithAttributes(attrs)))
	}
	return nil
}

// listen binds the datagram socket, replacing a stale file a dead collector
// left, but never one another live collector is bound to.
func listen(path string) (*net.UnixConn, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.Dial("unixgram", path); err == nil {
			_ = c.Close() // only a probe
			return nil, fmt.Errorf("%s is in use by another process", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	// Training jobs run as other users than the collector; any local process
	// may send, and the kernel-given pid, not the record, says who did.
	if err := os.Chmod(path, 0o666); err != nil {
		_ = conn.Close() // already failing
		return nil, fmt.Errorf("chmod socket: %w", err)
	}
	_ = conn.SetReadBuffer(8 << 20) // absorb bursts; the plugin drops rather than waits
	raw, err := conn.SyscallConn()
	if err == nil {
		var serr error
		err = raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) })
		if err == nil {
			err = serr
		}
	}
	if err != nil {
		_ = conn.Close() // already failing
		return nil, fmt.Errorf("SO_PASSCRED: %w", err)
	}
	return conn, nil
}

func (r *ncclReceiver) readLoop() {
	defer close(r.done)
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	recs := make([]record, 0, 64)
	var lastErr, lastPeerErr time.Time
	for {
		n, oobn, _, _, err := r.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			r.logger.Warn("reading NCCL socket", zap.Error(err))
			continue
		}
		pid, uid, hasCred := int32(-1), uint32(0), false
		if cm, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil && len(cm) > 0 {
			if cred, err := unix.ParseUnixCredentials(&cm[0]); err == nil {
				pid, uid, hasCred = cred.Pid, cred.Uid, true
			}
		}
		if len(r.cfg.AllowedUIDs) > 0 && (!hasCred || !slices.Contains(r.cfg.AllowedUIDs, uid)) {
			r.mu.Lock()
			r.st.malformed["peer"]++
			r.mu.Unlock()
			if now := time.Now(); now.Sub(lastPeerErr) > 10*time.Second {
				lastPeerErr = now
				r.logger.Warn("dropping NCCL datagram from a user not in allowed_uids", zap.Int32("pid", pid), zap.Uint32("uid", uid))
			}
			continue
		}
		var dropped uint32
		var errs []wireError
		recs, dropped, errs = decodeDatagram(buf[:n], recs[:0])
		now := time.Now()
		r.mu.Lock()
		if len(recs) > 0 {
			r.st.add(pid, recs, dropped, now, r.owner)
			if r.onRecords != nil {
				r.onRecords(pid, recs)
			}
		}
		for _, e := range errs {
			r.st.malformed[e.reason] += int64(e.n)
		}
		r.mu.Unlock()
		// One line per ten seconds at most: a broken sender must not flood the log.
		if len(errs) > 0 && now.Sub(lastErr) > 10*time.Second {
			lastErr = now
			r.logger.Warn("dropping malformed NCCL records", zap.Int32("pid", pid), zap.Error(&errs[0]))
		}
	}
}

func (r *ncclReceiver) owner(pid int32) attribution.Owner {
	if pid <= 0 {
		return attribution.Owner{}
	}
	return attribution.ProcessOwner(r.cfg.RootPath, uint32(pid))
}

func (r *ncclReceiver) shutdown(context.Context) error {
	if r.tailStop != nil {
		close(r.tailStop)
		<-r.tailDone
		r.tailStop = nil
	}
	if r.conn != nil {
		err := r.conn.Close()
		<-r.done
		// Unlinked so a plugin's next send fails fast and counts a drop
		// instead of queueing into a socket nobody reads.
		if rerr := os.Remove(r.cfg.SocketPath); rerr != nil && !os.IsNotExist(rerr) {
			err = errors.Join(err, rerr)
		}
		return err
	}
	return nil
}

var reasons = map[string]metadata.AttributeReason{
	"truncated":   metadata.AttributeReasonTruncated,
	"magic":       metadata.AttributeReasonMagic,
	"version":     metadata.AttributeReasonVersion,
	"record_size": metadata.AttributeReasonRecordSize,
	"field":       metadata.AttributeReasonField,
	"json":        metadata.AttributeReasonJSON,
	"peer":        metadata.AttributeReasonPeer,
}

func (r *ncclReceiver) scrape(context.Context) (pmetric.Metrics, error) {
	now := time.Now()
	ts := pcommon.NewTimestampFromTime(now)
	avail := int64(0)
	if r.available {
		avail = 1
	}
	r.mb.RecordAcceltelReceiverAvailableDataPoint(ts, avail, metadata.Type.String())
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st.expire(now, r.cfg.ProcessTTL) // also closes the overdue sequence numbers
	for reason, n := range r.st.malformed {
		r.mb.RecordAcceltelNcclRecordsMalformedDataPoint(ts, n, reasons[reason])
	}
	if len(r.st.spread.tracks) > 0 || r.st.spread.evicted > 0 { // once collectives flow
		r.mb.RecordAcceltelNcclSequencesEvictedDataPoint(ts, r.st.spread.evicted)
	}
	out := r.mb.Emit()
	if r.cfg.Histograms.CollectiveCompletionSpread {
		appendSpread(out, r.st.spread, r.start0, ts)
	}
	for k, p := range r.st.procs {
		r.emitProc(k, p, ts).ResourceMetrics().MoveAndAppendTo(out.ResourceMetrics())
	}
	return out, nil
}

func (r *ncclReceiver) emitProc(k procKey, p *proc, ts pcommon.Timestamp) pmetric.Metrics {
	rb := r.mb.NewResourceBuilder()
	rb.SetProcessPid(int64(k.pid))
	rb.SetNcclCudaDevice(int64(k.cudaDev))
	if p.owner.ContainerID != "" {
		rb.SetContainerID(p.owner.ContainerID)
	}
	if p.owner.PodUID != "" {
		rb.SetK8sPodUID(p.owner.PodUID)
	}
	res := rb.Emit()
	r.mb.RecordAcceltelNcclRecordsDroppedDataPoint(ts, int64(p.dropped))
	for sk, se := range p.series {
		fn, comm, algo, proto := cstr(sk.fn[:]), commIDString(sk.commID), cstr(sk.algo[:]), cstr(sk.proto[:])
		r.mb.RecordNcclOperationCountDataPoint(ts, se.count, fn, comm, int64(sk.nranks), int64(sk.nnodes), int64(sk.rank), algo, proto)
		r.mb.RecordNcclOperationBytesDataPoint(ts, se.bytes, fn, comm, int64(sk.nranks), int64(sk.nnodes), int64(sk.rank), algo, proto)
		if se.maxBusBW > 0 {
			r.mb.RecordNcclCollectiveBusBandwidthDataPoint(ts, se.maxBusBW, fn, comm, int64(sk.nranks), int64(sk.nnodes), int64(sk.rank), algo, proto)
			se.maxBusBW = 0
		}
	}
	for lk, a := range p.lags { // the interval's mean, then forgotten
		if a.n > 0 {
			r.mb.RecordNcclRankCompletionLagDataPoint(ts, a.sum/float64(a.n), commIDString(lk.commID), int64(lk.nranks), int64(lk.rank))
		}
		delete(p.lags, lk)
	}
	md := r.mb.Emit(metadata.WithResource(res))
	if !r.cfg.Histograms.OperationDuration && !r.cfg.Histograms.OperationBusBandwidth {
		return md
	}
	var sm pmetric.ScopeMetrics
	if md.ResourceMetrics().Len() == 0 {
		rm := md.ResourceMetrics().AppendEmpty()
		res.CopyTo(rm.Resource())
		sm = rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(metadata.ScopeName)
	} else {
		sm = md.ResourceMetrics().At(0).ScopeMetrics().At(0)
	}
	appendHistograms(sm.Metrics(), p, r.cfg.Histograms, r.start0, ts)
	return md
}
