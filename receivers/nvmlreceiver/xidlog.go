package nvmlreceiver // import "github.com/acceltel/acceltel/receivers/nvmlreceiver"

import (
	"context"
	"fmt"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"

	"github.com/acceltel/acceltel/receivers/nvmlreceiver/internal/metadata"
)

// xidClass is what NVIDIA's XID catalogue says about a code: how bad it is
// for the GPU, and a short description. FATAL: the GPU is unusable until it
// is reset (or replaced); ERROR: the hardware failed and needs attention
// (drain, reset when convenient, watch for RMA); WARN: most likely the
// application's own fault. Codes not listed are WARN.
type xidClass struct {
	severity plog.SeverityNumber
	text     string
}

var xidCatalogue = map[uint64]xidClass{
	13:  {plog.SeverityNumberWarn, "graphics engine exception (usually the application)"},
	31:  {plog.SeverityNumberWarn, "GPU memory page fault (usually the application)"},
	43:  {plog.SeverityNumberWarn, "GPU stopped processing: the application's channel was reset"},
	45:  {plog.SeverityNumberWarn, "preemptive cleanup after an earlier error"},
	48:  {plog.SeverityNumberError, "double-bit ECC error"},
	63:  {plog.SeverityNumberError, "row remapping or page retirement recorded; reset the GPU to apply it"},
	64:  {plog.SeverityNumberError, "row remapping or page retirement could not be recorded"},
	74:  {plog.SeverityNumberError, "NVLink error"},
	79:  {plog.SeverityNumberFatal, "GPU has fallen off the bus"},
	92:  {plog.SeverityNumberError, "high single-bit ECC error rate"},
	94:  {plog.SeverityNumberError, "contained ECC error: the affected application was stopped"},
	95:  {plog.SeverityNumberFatal, "uncontained ECC error: every application on the GPU is affected; reset the GPU"},
	119: {plog.SeverityNumberFatal, "GSP RPC timeout"},
	120: {plog.SeverityNumberFatal, "GSP error"},
}

var severityText = map[plog.SeverityNumber]string{
	plog.SeverityNumberWarn:  "WARN",
	plog.SeverityNumberError: "ERROR",
	plog.SeverityNumberFatal: "FATAL",
}

// noInstance is NVML's GPU and compute instance id of an event that no
// MIG instance is attributable to.
const noInstance = ^uint32(0)

// fillXIDRecord describes one XID event. NVML's event carries no process,
// so process.pid is never set here.
func fillXIDRecord(lr plog.LogRecord, uuid string, ev nvml.EventData, at time.Time) {
	class, known := xidCatalogue[ev.EventData]
	if !known {
		class.severity = plog.SeverityNumberWarn
	}
	ts := pcommon.NewTimestampFromTime(at)
	lr.SetTimestamp(ts)
	lr.SetObservedTimestamp(ts)
	lr.SetSeverityNumber(class.severity)
	lr.SetSeverityText(severityText[class.severity])
	lr.SetEventName("nvidia.gpu.xid")
	if known {
		lr.Body().SetStr(fmt.Sprintf("XID %d on %s: %s", ev.EventData, uuid, class.text))
	} else {
		lr.Body().SetStr(fmt.Sprintf("XID %d on %s", ev.EventData, uuid))
	}
	attrs := lr.Attributes()
	attrs.PutInt("nvidia.gpu.xid", int64(ev.EventData))
	attrs.PutStr("hw.id", uuid)
	if ev.GpuInstanceId != noInstance {
		attrs.PutInt("nvidia.gpu.mig.gpu_instance_id", int64(ev.GpuInstanceId))
	}
	if ev.ComputeInstanceId != noInstance {
		attrs.PutInt("nvidia.gpu.mig.compute_instance_id", int64(ev.ComputeInstanceId))
	}
}

// setLogs connects the logs pipeline, with the receiver telemetry that
// counts what it accepts and refuses; made when the receiver is, so that a
// failure to make it fails the collector's start-up, not a scrape.
func (s *nvmlScraper) setLogs(next consumer.Logs) error {
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID: s.set.ID, Transport: "nvml", ReceiverCreateSettings: s.set,
	})
	if err != nil {
		return err
	}
	s.logs, s.logsObs = next, obs
	return nil
}

// xidLogger sends each XID event as a log record on the GPU's resource,
// counted in the collector's receiver telemetry (accepted or refused log
// records). It runs on the event goroutine, so it reads only what does not
// change after start (the GPU's resource) and the pod cache, which locks.
func (s *nvmlScraper) xidLogger() xidEmitter {
	lb := metadata.NewLogsBuilder(s.set)
	next, obs, pods, rc, logger := s.logs, s.logsObs, s.pods, s.cfg.ResourceAttributes, s.logger
	return func(ctx context.Context, g *gpu, ev nvml.EventData, at time.Time) {
		lr := plog.NewLogRecord()
		fillXIDRecord(lr, g.uuid, ev, at)
		res := pcommon.NewResource()
		g.resource.CopyTo(res)
		if pods != nil {
			if ref, ok := pods.lookup(g.uuid); ok {
				putPod(res.Attributes(), ref, rc)
			}
		}
		lb.AppendLogRecord(lr)
		ctx = obs.StartLogsOp(ctx)
		err := next.ConsumeLogs(ctx, lb.Emit(metadata.WithLogsResource(res)))
		obs.EndLogsOp(ctx, "nvml", 1, err)
		if err != nil {
			logger.Warn("XID log record not delivered", zap.String("hw.id", g.uuid), zap.Uint64("xid", ev.EventData), zap.Error(err))
		}
	}
}
