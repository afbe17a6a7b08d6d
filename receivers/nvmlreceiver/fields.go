package nvmlreceiver // import "github.com/acceltel/acceltel/receivers/nvmlreceiver"

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/acceltel/acceltel/receivers/nvmlreceiver/internal/metadata"
)

// Field values batch many counters into one NVML call, which is why memory
// temperature, violation times and NVLink counters come from here.
type fieldKind uint8

const (
	fieldMemoryTemp fieldKind = iota
	fieldThrottle
	fieldNVLinkError
	fieldNVLinkTx
	fieldNVLinkRx
)

type fieldSpec struct {
	id       uint32
	kind     fieldKind
	throttle metadata.AttributeThrottleCause
	nvlink   metadata.AttributeNvlinkErrorType
}

var deviceFields = []fieldSpec{
	{id: nvml.FI_DEV_MEMORY_TEMP, kind: fieldMemoryTemp},
	{id: nvml.FI_DEV_PERF_POLICY_POWER, kind: fieldThrottle, throttle: metadata.AttributeThrottleCausePower},
	{id: nvml.FI_DEV_PERF_POLICY_THERMAL, kind: fieldThrottle, throttle: metadata.AttributeThrottleCauseThermal},
	{id: nvml.FI_DEV_PERF_POLICY_SYNC_BOOST, kind: fieldThrottle, throttle: metadata.AttributeThrottleCauseSyncBoost},
	{id: nvml.FI_DEV_PERF_POLICY_BOARD_LIMIT, kind: fieldThrottle, throttle: metadata.AttributeThrottleCauseBoardLimit},
	{id: nvml.FI_DEV_PERF_POLICY_LOW_UTILIZATION, kind: fieldThrottle, throttle: metadata.AttributeThrottleCauseLowUtilization},
	{id: nvml.FI_DEV_PERF_POLICY_RELIABILITY, kind: fieldThrottle, throttle: metadata.AttributeThrottleCauseReliability},
	{id: nvml.FI_DEV_PERF_POLICY_TOTAL_APP_CLOCKS, kind: fieldThrottle, throttle: metadata.AttributeThrottleCauseTotalAppClocks},
	{id: nvml.FI_DEV_PERF_POLICY_TOTAL_BASE_CLOCKS, kind: fieldThrottle, throttle: metadata.AttributeThrottleCauseTotalBaseClocks},
	{id: nvml.FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL, kind: fieldNVLinkError, nvlink: metadata.AttributeNvlinkErrorTypeCrcFlit},
	{id: nvml.FI_DEV_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL, kind: fieldNVLinkError, nvlink: metadata.AttributeNvlinkErrorTypeCrcData},
	{id: nvml.FI_DEV_NVLINK_REPLAY_ERROR_COUNT_TOTAL, kind: fieldNVLinkError, nvlink: metadata.AttributeNvlinkErrorTypeReplay},
	{id: nvml.FI_DEV_NVLINK_RECOVERY_ERROR_COUNT_TOTAL, kind: fieldNVLinkError, nvlink: metadata.AttributeNvlinkErrorTypeRecovery},
}

// fieldSet is the request a device sends at each scrape, reused so a
// scrape allocates nothing for it.
type fieldSet struct {
	specs  []fieldSpec
	values []nvml.FieldValue
}

func (f *fieldSet) add(spec fieldSpec, scope uint32) {
	f.specs = append(f.specs, spec)
	f.values = append(f.values, nvml.FieldValue{FieldId: spec.id, ScopeId: scope})
}

// wanted builds the request from the enabled metrics and the active links.
func wantedFields(mc metadata.MetricsConfig, links []int) fieldSet {
	var f fieldSet
	for _, spec := range deviceFields {
		switch spec.kind {
		case fieldMemoryTemp:
			if !mc.HwTemperature.Enabled {
				continue
			}
		case fieldThrottle:
			if !mc.NvidiaGpuThrottleTime.Enabled {
				continue
			}
		case fieldNVLinkError:
			if !mc.NvidiaGpuNvlinkErrors.Enabled || len(links) == 0 {
				continue
			}
		}
		f.add(spec, 0)
	}
	if mc.NvidiaGpuNvlinkIo.Enabled || mc.NvidiaGpuNvlinkLinkIo.Enabled {
		for _, l := range links {
			f.add(fieldSpec{id: nvml.FI_DEV_NVLINK_THROUGHPUT_DATA_TX, kind: fieldNVLinkTx}, uint32(l))
			f.add(fieldSpec{id: nvml.FI_DEV_NVLINK_THROUGHPUT_DATA_RX, kind: fieldNVLinkRx}, uint32(l))
		}
	}
	return f
}

// keep drops the fields the driver does not support and names them.
func (f *fieldSet) keep(supported func(i int) bool) (dropped []string) {
	n := 0
	for i := range f.specs {
		if supported(i) {
			f.specs[n], f.values[n] = f.specs[i], f.values[i]
			n++
			continue
		}
		dropped = append(dropped, fmt.Sprintf("field %d scope %d", f.values[i].FieldId, f.values[i].ScopeId))
	}
	f.specs, f.values = f.specs[:n], f.values[:n]
	return dropped
}

func fieldUint(v *nvml.FieldValue) (uint64, bool) {
	b := v.Value[:]
	switch nvml.ValueType(v.ValueType) {
	case nvml.VALUE_TYPE_DOUBLE:
		d := math.Float64frombits(binary.LittleEndian.Uint64(b))
		if d < 0 || math.IsNaN(d) {
			return 0, false
		}
		return uint64(d), true
	case nvml.VALUE_TYPE_UNSIGNED_INT:
		return uint64(binary.LittleEndian.Uint32(b)), true
	case nvml.VALUE_TYPE_UNSIGNED_LONG, nvml.VALUE_TYPE_UNSIGNED_LONG_LONG:
		return binary.LittleEndian.Uint64(b), true
	case nvml.VALUE_TYPE_SIGNED_LONG_LONG:
		x := int64(binary.LittleEndian.Uint64(b))
		return uint64(x), x >= 0
	case nvml.VALUE_TYPE_SIGNED_INT:
		x := int32(binary.LittleEndian.Uint32(b))
		return uint64(x), x >= 0
	case nvml.VALUE_TYPE_UNSIGNED_SHORT:
		return uint64(binary.LittleEndian.Uint16(b)), true
	}
	return 0, false
}

// recordFields reads all fields in one call; a field that fails is an error
// of its own and the others are still recorded.
func recordFields(s *nvmlScraper, g *gpu, ts pcommon.Timestamp) error {
	if len(g.fields.values) == 0 {
		return nil
	}
	if ret := g.dev.GetFieldValues(g.fields.values); ret != nvml.SUCCESS {
		return fmt.Errorf("GetFieldValues: %w", ret)
	}
	var failed []uint32
	var tx, rx int64
	var txOK, rxOK, linkFailed bool
	for i := range g.fields.values {
		v := &g.fields.values[i]
		spec := &g.fields.specs[i]
		x, ok := fieldUint(v)
		if nvml.Return(v.NvmlReturn) != nvml.SUCCESS || !ok {
			failed = append(failed, v.FieldId)
			linkFailed = linkFailed || spec.kind == fieldNVLinkTx || spec.kind == fieldNVLinkRx
			continue
		}
		switch spec.kind {
		case fieldMemoryTemp:
			s.mb.RecordHwTemperatureDataPoint(ts, float64(x), metadata.AttributeSensorMemory)
		case fieldThrottle:
			s.mb.RecordNvidiaGpuThrottleTimeDataPoint(ts, float64(x)/1e9, spec.throttle)
		case fieldNVLinkError:
			s.mb.RecordNvidiaGpuNvlinkErrorsDataPoint(ts, int64(x), spec.nvlink)
		case fieldNVLinkTx:
			tx, txOK = tx+int64(x)*1024, true
			s.mb.RecordNvidiaGpuNvlinkLinkIoDataPoint(ts, int64(x)*1024, int64(v.ScopeId), metadata.AttributeDirectionTransmit)
		case fieldNVLinkRx:
			rx, rxOK = rx+int64(x)*1024, true
			s.mb.RecordNvidiaGpuNvlinkLinkIoDataPoint(ts, int64(x)*1024, int64(v.ScopeId), metadata.AttributeDirectionReceive)
		}
	}
	// A total over fewer links than usual would look like a counter reset,
	// so it is only reported when every link answered.
	if txOK && rxOK && !linkFailed {
		s.mb.RecordNvidiaGpuNvlinkIoDataPoint(ts, tx, metadata.AttributeDirectionTransmit)
		s.mb.RecordNvidiaGpuNvlinkIoDataPoint(ts, rx, metadata.AttributeDirectionReceive)
	}
	if len(failed) > 0 {
		return fmt.Errorf("field values %v failed", failed)
	}
	return nil
}
