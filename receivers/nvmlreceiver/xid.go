package nvmlreceiver // import "github.com/acceltel/acceltel/receivers/nvmlreceiver"

import (
	"context"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"

	"github.com/acceltel/acceltel/receivers/nvmlreceiver/internal/metadata"
)

// xidWaitMillis bounds how long Shutdown waits for the event goroutine.
const xidWaitMillis = 500

// xidWatcher waits for XID events in its own goroutine, since
// nvmlEventSetWait blocks, and keeps a count per GPU and code that a scrape
// reports as a cumulative sum (never a last-value gauge). With a logs
// pipeline, each event also becomes a log record, sent from this goroutine.
type xidWatcher struct {
	set    nvml.EventSet
	logger *zap.Logger
	done   chan struct{}
	wg     sync.WaitGroup
	byUUID map[string]*gpu
	emit   xidEmitter // nil without a logs pipeline
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	counts map[string]map[uint64]int64 // hw.id → XID → count
}

// xidEmitter sends one XID event on; ctx ends at shutdown, so a blocked
// pipeline cannot hold the receiver up.
type xidEmitter func(ctx context.Context, g *gpu, ev nvml.EventData, at time.Time)

func startXIDWatcher(lib nvml.Interface, gpus []*gpu, logger *zap.Logger, emit xidEmitter) *xidWatcher {
	set, ret := lib.EventSetCreate()
	if ret != nvml.SUCCESS {
		logger.Info("cannot create an NVML event set; XID errors are not counted", zap.Error(ret))
		return nil
	}
	w := &xidWatcher{set: set, logger: logger, done: make(chan struct{}), counts: map[string]map[uint64]int64{},
		byUUID: map[string]*gpu{}, emit: emit}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	registered := 0
	for _, g := range gpus {
		types, ret := g.dev.GetSupportedEventTypes()
		if ret != nvml.SUCCESS || types&nvml.EventTypeXidCriticalError == 0 {
			logger.Info("GPU does not report XID events", zap.String("hw.id", g.uuid))
			continue
		}
		if ret := g.dev.RegisterEvents(nvml.EventTypeXidCriticalError, set); ret != nvml.SUCCESS {
			logger.Info("cannot register for XID events", zap.String("hw.id", g.uuid), zap.Error(ret))
			continue
		}
		w.counts[g.uuid] = map[uint64]int64{}
		w.byUUID[g.uuid] = g
		registered++
	}
	if registered == 0 {
		_ = set.Free() // nothing was registered: freeing an empty set cannot lose events
		w.cancel()
		return nil
	}
	w.wg.Add(1)
	go w.loop()
	return w
}

func (w *xidWatcher) loop() {
	defer w.wg.Done()
	for {
		select {
		case <-w.done:
			return
		default:
		}
		ev, ret := w.set.Wait(xidWaitMillis)
		switch ret {
		case nvml.SUCCESS:
			w.handle(ev)
		case nvml.ERROR_TIMEOUT:
		default:
			// Avoid spinning on a broken event set; the next wait may succeed.
			select {
			case <-w.done:
				return
			case <-time.After(time.Second):
			}
		}
	}
}

func (w *xidWatcher) handle(ev nvml.EventData) {
	if ev.EventType&nvml.EventTypeXidCriticalError == 0 || ev.Device == nil {
		return
	}
	uuid, ret := ev.Device.GetUUID()
	if ret != nvml.SUCCESS {
		return
	}
	at := time.Now()
	w.mu.Lock()
	if c, ok := w.counts[uuid]; ok {
		c[ev.EventData]++
	}
	w.mu.Unlock()
	w.logger.Warn("GPU XID error", zap.String("hw.id", uuid), zap.Uint64("xid", ev.EventData),
		zap.Uint32("gpu_instance_id", ev.GpuInstanceId), zap.Uint32("compute_instance_id", ev.ComputeInstanceId))
	if g := w.byUUID[uuid]; g != nil && w.emit != nil {
		w.emit(w.ctx, g, ev, at)
	}
}

func (w *xidWatcher) record(mb *metadata.MetricsBuilder, ts pcommon.Timestamp, uuid string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for xid, n := range w.counts[uuid] {
		mb.RecordNvidiaGpuXidErrorsDataPoint(ts, n, int64(xid))
	}
}

func (w *xidWatcher) stop() {
	w.cancel()
	close(w.done)
	w.wg.Wait()
	_ = w.set.Free() // shutting down: the waiter has stopped, nothing is left to read
}
