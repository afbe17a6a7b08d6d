package nvmlreceiver // import "github.com/acceltel/acceltel/receivers/nvmlreceiver"

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/acceltel/acceltel/receivers/nvmlreceiver/internal/metadata"
)

// collector is one group of NVML calls. It is probed once per device at
// start: dropped if every metric it feeds is off, if the driver lacks its
// symbol, or if the device answers NOT_SUPPORTED, so a scrape never makes a
// call that cannot succeed.
type collector struct {
	name string
	// symbol, when set, must resolve in the loaded library.
	symbol string
	// fallbackFor names a collector this one stands in for when that one was
	// dropped (an older driver's variant of the same call).
	fallbackFor string
	enabled     func(metadata.MetricsConfig) bool
	record      func(s *nvmlScraper, g *gpu, ts pcommon.Timestamp) error
}

var clockTypes = [3]nvml.ClockType{nvml.CLOCK_GRAPHICS, nvml.CLOCK_SM, nvml.CLOCK_MEM}

var clockAttrs = [3]metadata.AttributeClock{metadata.AttributeClockGraphics, metadata.AttributeClockSm, metadata.AttributeClockMemory}

var clockReasons = []struct {
	mask uint64
	attr metadata.AttributeReason
}{
	{nvml.ClocksEventReasonGpuIdle, metadata.AttributeReasonGpuIdle},
	{nvml.ClocksEventReasonApplicationsClocksSetting, metadata.AttributeReasonApplicationsClocksSetting},
	{nvml.ClocksEventReasonSwPowerCap, metadata.AttributeReasonSwPowerCap},
	{nvml.ClocksThrottleReasonHwSlowdown, metadata.AttributeReasonHwSlowdown},
	{nvml.ClocksEventReasonSyncBoost, metadata.AttributeReasonSyncBoost},
	{nvml.ClocksEventReasonSwThermalSlowdown, metadata.AttributeReasonSwThermalSlowdown},
	{nvml.ClocksThrottleReasonHwThermalSlowdown, metadata.AttributeReasonHwThermalSlowdown},
	{nvml.ClocksThrottleReasonHwPowerBrakeSlowdown, metadata.AttributeReasonHwPowerBrakeSlowdown},
	{nvml.ClocksEventReasonDisplayClockSetting, metadata.AttributeReasonDisplayClockSetting},
	{nvml.ClocksEventReasonBoardLimit, metadata.AttributeReasonBoardLimit},
	{nvml.ClocksEventReasonReliability, metadata.AttributeReasonReliability},
}

func fail(call string, ret nvml.Return) error {
	return fmt.Errorf("%s: %w", call, ret)
}

func recordReasons(s *nvmlScraper, ts pcommon.Timestamp, mask uint64) {
	for _, r := range clockReasons {
		var v int64
		if mask&r.mask != 0 {
			v = 1
		}
		s.mb.RecordNvidiaGpuClockEventReasonDataPoint(ts, v, r.attr)
	}
}

func eccRecorder(typ nvml.MemoryErrorType, ctr nvml.EccCounterType, et metadata.AttributeEccErrorType, ec metadata.AttributeEccCounter) func(*nvmlScraper, *gpu, pcommon.Timestamp) error {
	return func(s *nvmlScraper, g *gpu, ts pcommon.Timestamp) error {
		v, ret := g.dev.GetTotalEccErrors(typ, ctr)
		if ret != nvml.SUCCESS {
			return fail("GetTotalEccErrors", ret)
		}
		s.mb.RecordHwErrorsDataPoint(ts, int64(v), et, ec)
		return nil
	}
}

func eccEnabled(mc metadata.MetricsConfig) bool { return mc.HwErrors.Enabled }

// collectors in the order a scrape calls them.
var collectors = []collector{
	{
		name: "utilization",
		enabled: func(mc metadata.MetricsConfig) bool {
			return mc.HwGpuUtilization.Enabled || mc.NvidiaGpuMemoryControllerUtilization.Enabled
		},
		record: func(s *nvmlScraper, g *gpu, ts pcommon.Timestamp) error {
			u, ret := g.dev.GetUtilizationRates()
			if ret != nvml.SUCCESS {
				return fail("GetUtilizationRates", ret)
			}
			s.mb.RecordHwGpuUtilizationDataPoint(ts, float64(u.Gpu)/100, metadata.AttributeTaskGeneral)
			s.mb.RecordNvidiaGpuMemoryControllerUtilizationDataPoint(ts, float64(u.Memory)/100)
			return nil
		},
	},
	{
		name:    "encoder_utilization",
		enabled: func(mc metadata.MetricsConfig) bool { return mc.HwGpuUtilization.Enabled },
		record: func(s *nvmlScraper, g *gpu, ts pcommon.Timestamp) error {
			u, _, ret := g.dev.GetEncoderUtilization()
			if ret != nvml.SUCCESS {
				return fail("GetEncoderUtilization", ret)
			}
			s.mb.RecordHwGpuUtilizationDataPoint(ts, float64(u)/100, metadata.AttributeTaskEncoder)
			return nil
		},
	},
	{
		name:    "decoder_utilization",
		enabled: func(mc metadata.MetricsConfig) bool { return mc.HwGpuUtilization.Enabled },
		record: func(s *nvmlScraper, g *gpu, ts pcommon.Timestamp) error {
			u, _, ret := g.dev.GetDecoderUtilization()
			if ret != nvml.SUCCESS {
				return fail("GetDecoderUtilization", ret)
			}
			s.mb.RecordHwGpuUtilizationDataPoint(ts, float64(u)/100, metadata.AttributeTaskDecoder)
			return nil
		},
	},
	{
		name:   "memory_v2",
		symbol: "nvmlDeviceGetMemoryInfo_v2",
		enabled: func(mc metadata.MetricsConfig) bool {
			return mc.HwGpuMemoryUsage.Enabled || mc.HwGpuMemoryLimit.Enabled || mc.NvidiaGpuMemoryFree.Enabled || mc.NvidiaGpuMemoryReserved.Enabled
		},
		record: func(s *nvmlScraper, g *gpu, ts pcommon.Timestamp) error {
			m, ret := g.dev.GetMemoryInfo_v2()
			if ret != nvml.SUCCESS {
				return fail("GetMemoryInfo_v2", ret)
			}
			s.mb.RecordHwGpuMemoryUsageDataPoint(ts, int64(m.Used))
			s.mb.RecordHwGpuMemoryLimitDataPoint(ts, int64(m.Total))
			s.mb.RecordNvidiaGpuMemoryFreeDataPoint(ts, int64(m.Free))
			s.mb.RecordNvidiaGpuMemoryReservedDataPoint(ts, int64(m.Reserved))
			return nil
		},
	},
	{
		name:        "memory",
		fallbackFor: "memory_v2",
		enabled: func(mc metadata.MetricsConfig) bool {
			return mc.HwGpuMemoryUsage.Enabled || mc.HwGpuMemoryLimit.Enabled || mc.NvidiaGpuMemoryFree.Enabled
		},
		record: func(s *nvmlScraper, g *gpu, ts pcommon.Timestamp) error {
			m, ret := g.dev.GetMemoryInfo()
			if ret != nvml.SUCCESS {
				return fail("GetMemoryInfo", ret)
			}
			s.mb.RecordHwGpuMemoryUsageDataPoint(ts, int64(m.Used))
			s.mb.RecordHwGpuMemoryLimitDataPoint(ts, int64(m.Total))
			s.mb.RecordNvidiaGpuMemoryFreeDataPoint(ts, int64(m.Free))
			return nil
		},
	},
	{
		name: "bar1",
		enabled: func(mc metadata.MetricsConfig) bool {
			return mc.NvidiaGpuBar1Usage.Enabled || mc.NvidiaGpuBar1Limit.Enabled
		},
		record: func(s *nvmlScraper, g *gpu, ts pcommon.Timestamp) error {
			m, ret := g.dev.GetBAR1MemoryInfo()
			if ret != nvml.SUCCESS {
				return fail("GetBAR1MemoryInfo", ret)
			}
			s.mb.RecordNvidiaGpuBar1UsageDataPoint(ts, int64(m.Bar1Used))
			s.mb.RecordNvidiaGpuBar1LimitDataPoint(ts, int64(m.Bar1Total))
			return nil
		},
	},
	{
		name:    "power",
		enabled: func(mc metadata.MetricsConfig) bool { return mc.HwPower.Enabled },
		record: func(s *nvmlScraper, g *gpu, ts pcommon.Timestamp) error {
			mw, ret := g.dev.GetPowerUsage()
			if ret != nvml.SUCCESS {
				return fail("GetPowerUsage", ret)
			}
			s.mb.RecordHwPowerDataPoint(ts, float64(mw)/1000)
			return nil
		},
	},
	{
		name:    "power_limit",
		enabled: func(mc metadata.MetricsConfig) bool { return mc.NvidiaGpuPowerLimit.Enabled },
		record: func(s *nvmlScraper, g *gpu, ts pcommon.Timestamp) error {
			mw, ret := g.dev.GetEnforcedPowerLimit()
			if ret != nvml.SUCCESS {
				return fail("GetEnforcedPowerLimit", ret)
			}
			s.mb.RecordNvidiaGpuPowerLimitDataPoint(ts, float64(mw)/1000)
			return nil
		},
	},
	{
		name:    "energy",
		symbol:  "nvmlDeviceGetTotalEnergyConsumption",
		enabled: func(mc metadata.MetricsConfig) bool { return mc.HwEnergy.Enabled },
		record: func(s *nvmlScraper, g *gpu, ts pcommon.Timestamp) error {
			mj, ret := g.dev.GetTotalEnergyConsumption()
			if ret != nvml.SUCCESS {
				return fail("GetTotalEnergyConsumption", ret)
			}
			g.observeEnergy(mj, ts)
			s.mb.RecordHwEnergyDataPoint(ts, float64(mj-g.energyBase)/1000)
			return nil
		},
	},
	{
		name:    "temperature",
		enabled: func(mc metadata.MetricsConfig) bool { return mc.HwTemperature.Enabled },
		record: func(s *nvmlScraper, g *gpu, ts pcommon.Timestamp) error {
			c, ret := g.dev.GetTemperature(nvml.TEMPERATURE_GPU)
			if ret != nvml.SUCCESS {
				return fail("GetTemperature", ret)
			}
			s.mb.RecordHwTemperatureDataPoint(ts, float64(c), metadata.AttributeSensorGpu)
			return nil
		},
	},
	{
		name: "clocks",
		enabled: func(mc metadata.MetricsConfig) bool {
			return mc.NvidiaGpuClockFrequency.Enabled || mc.NvidiaGpuClockMax.Enabled
		},
		record: func(s *nvmlScraper, g *gpu, ts pcommon.Timestamp) error {
			var err error
			for i, c := range clockTypes {
				if g.maxClocks[i] != 0 {
					s.mb.RecordNvidiaGpuClockMaxDataPoint(ts, int64(g.maxClocks[i])*1e6, clockAttrs[i])
				}
				mhz, ret := g.dev.GetClockInfo(c)
				if ret != nvml.SUCCESS {
					err = fail("GetClockInfo", ret)
					continue
				}
				s.mb.RecordNvidiaGpuClockFrequencyDataPoint(ts, int64(mhz)*1e6, clockAttrs[i])
			}
			return err
		},
	},
	{
		name:    "clock_event_reasons",
		symbol:  "nvmlDeviceGetCurrentClocksEventReasons",
		enabled: func(mc metadata.MetricsConfig) bool { return mc.NvidiaGpuClockEventReason.Enabled },
		record: func(s *nvmlScraper, g *gpu, ts pcommon.Timestamp) error {
			mask, ret := g.dev.GetCurrentClocksEventReasons()
			if ret != nvml.SUCCESS {
				return fail("GetCurrentClocksEventReasons", ret)
			}
			recordReasons(s, ts, mask)
			return nil
		},
	},
	{
		name:        "clock_throttle_reasons",
		fallbackFor: "clock_event_reasons",
		enabled:     func(mc metadata.MetricsConfig) bool { return mc.NvidiaGpuClockEventReason.Enabled },
		record: func(s *nvmlScraper, g *gpu, ts pcommon.Timestamp) error {
			mask, ret := g.dev.GetCurrentClocksThrottleReasons()
			if ret != nvml.SUCCESS {
				return fail("GetCurrentClocksThrottleReasons", ret)
			}
			recordReasons(s, ts, mask)
			return nil
		},
	},
	{
		name:    "pcie_throughput",
		enabled: func(mc metadata.MetricsConfig) bool { return mc.NvidiaGpuPcieThroughput.Enabled },
		record: func(s *nvmlScraper, g *gpu, ts pcommon.Timestamp) error {
			tx, ret := g.dev.GetPcieThroughput(nvml.PCIE_UTIL_TX_BYTES)
			if ret != nvml.SUCCESS {
				return fail("GetPcieThroughput", ret)
			}
			rx, ret := g.dev.GetPcieThroughput(nvml.PCIE_UTIL_RX_BYTES)
			if ret != nvml.SUCCESS {
				return fail("GetPcieThroughput", ret)
			}
			// NVML reports KB/s.
			s.mb.RecordNvidiaGpuPcieThroughputDataPoint(ts, int64(tx)*1024, metadata.AttributeDirectionTransmit)
			s.mb.RecordNvidiaGpuPcieThroughputDataPoint(ts, int64(rx)*1024, metadata.AttributeDirectionReceive)
			return nil
		},
	},
	{
		name:    "pcie_replay",
		enabled: func(mc metadata.MetricsConfig) bool { return mc.NvidiaGpuPcieReplay.Enabled },
		record: func(s *nvmlScraper, g *gpu, ts pcommon.Timestamp) error {
			n, ret := g.dev.GetPcieReplayCounter()
			if ret != nvml.SUCCESS {
				return fail("GetPcieReplayCounter", ret)
			}
			s.mb.RecordNvidiaGpuPcieReplayDataPoint(ts, int64(n))
			return nil
		},
	},
	{
		name: "pcie_link",
		enabled: func(mc metadata.MetricsConfig) bool {
			return mc.NvidiaGpuPcieLinkGeneration.Enabled || mc.NvidiaGpuPcieLinkWidth.Enabled ||
				mc.NvidiaGpuPcieLinkGenerationMax.Enabled || mc.NvidiaGpuPcieLinkWidthMax.Enabled
		},
		record: func(s *nvmlScraper, g *gpu, ts pcommon.Timestamp) error {
			if g.hasMaxLinkGen {
				s.mb.RecordNvidiaGpuPcieLinkGenerationMaxDataPoint(ts, int64(g.maxLinkGen))
			}
			if g.hasMaxLinkWith {
				s.mb.RecordNvidiaGpuPcieLinkWidthMaxDataPoint(ts, int64(g.maxLinkWidth))
			}
			gen, ret := g.dev.GetCurrPcieLinkGeneration()
			if ret != nvml.SUCCESS {
				return fail("GetCurrPcieLinkGeneration", ret)
			}
			s.mb.RecordNvidiaGpuPcieLinkGenerationDataPoint(ts, int64(gen))
			w, ret := g.dev.GetCurrPcieLinkWidth()
			if ret != nvml.SUCCESS {
				return fail("GetCurrPcieLinkWidth", ret)
			}
			s.mb.RecordNvidiaGpuPcieLinkWidthDataPoint(ts, int64(w))
			return nil
		},
	},
	// ECC is probed per counter: a GPU with ECC off answers NOT_SUPPORTED.
	{name: "ecc_volatile_corrected", enabled: eccEnabled, record: eccRecorder(nvml.MEMORY_ERROR_TYPE_CORRECTED, nvml.VOLATILE_ECC, metadata.AttributeEccErrorTypeCorrected, metadata.AttributeEccCounterVolatile)},
	{name: "ecc_volatile_uncorrected", enabled: eccEnabled, record: eccRecorder(nvml.MEMORY_ERROR_TYPE_UNCORRECTED, nvml.VOLATILE_ECC, metadata.AttributeEccErrorTypeUncorrected, metadata.AttributeEccCounterVolatile)},
	{name: "ecc_aggregate_corrected", enabled: eccEnabled, record: eccRecorder(nvml.MEMORY_ERROR_TYPE_CORRECTED, nvml.AGGREGATE_ECC, metadata.AttributeEccErrorTypeCorrected, metadata.AttributeEccCounterAggregate)},
	{name: "ecc_aggregate_uncorrected", enabled: eccEnabled, record: eccRecorder(nvml.MEMORY_ERROR_TYPE_UNCORRECTED, nvml.AGGREGATE_ECC, metadata.AttributeEccErrorTypeUncorrected, metadata.AttributeEccCounterAggregate)},
	{
		name:   "remapped_rows",
		symbol: "nvmlDeviceGetRemappedRows",
		enabled: func(mc metadata.MetricsConfig) bool {
			return mc.NvidiaGpuRemappedRows.Enabled || mc.NvidiaGpuRemapPending.Enabled || mc.NvidiaGpuRemapFailed.Enabled
		},
		record: func(s *nvmlScraper, g *gpu, ts pcommon.Timestamp) error {
			corr, unc, pending, failed, ret := g.dev.GetRemappedRows()
			if ret != nvml.SUCCESS {
				return fail("GetRemappedRows", ret)
			}
			s.mb.RecordNvidiaGpuRemappedRowsDataPoint(ts, int64(corr), metadata.AttributeRemapCauseCorrectable)
			s.mb.RecordNvidiaGpuRemappedRowsDataPoint(ts, int64(unc), metadata.AttributeRemapCauseUncorrectable)
			s.mb.RecordNvidiaGpuRemapPendingDataPoint(ts, boolInt(pending))
			s.mb.RecordNvidiaGpuRemapFailedDataPoint(ts, boolInt(failed))
			return nil
		},
	},
	{
		name:    "field_values",
		enabled: func(metadata.MetricsConfig) bool { return true },
		record:  recordFields,
	},
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
