package nvmlreceiver // import "github.com/acceltel/acceltel/receivers/nvmlreceiver"

import (
	"errors"
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/acceltel/acceltel/internal/attribution"
	"github.com/acceltel/acceltel/receivers/nvmlreceiver/internal/metadata"
)

// processState is per GPU: the NVML timestamp of the newest utilization
// sample seen, so each scrape asks only for newer ones.
type processState struct {
	lastSample uint64
	sm         map[uint32]uint32 // pid → SM % of the newest sample
}

func (s *nvmlScraper) processMetricsOn() bool {
	mc := s.cfg.Metrics
	return mc.NvidiaGpuProcessMemoryUsage.Enabled || mc.NvidiaGpuProcessSmUtilization.Enabled
}

// scrapeProcesses emits one resource per process on the GPU, named by its
// pid and, where its cgroup says, its container and pod.
func (s *nvmlScraper) scrapeProcesses(g *gpu, gpuRes pcommon.Resource, ts pcommon.Timestamp, seen map[uint32]bool) error {
	procs, ret := g.dev.GetComputeRunningProcesses()
	if ret != nvml.SUCCESS {
		return fmt.Errorf("GetComputeRunningProcesses: %w", ret)
	}
	var errs []error
	if g.procs.sm == nil {
		g.procs.sm = map[uint32]uint32{}
	}
	clear(g.procs.sm)
	if s.cfg.Metrics.NvidiaGpuProcessSmUtilization.Enabled {
		samples, ret := g.dev.GetProcessUtilization(g.procs.lastSample)
		switch ret {
		case nvml.SUCCESS:
			var newest uint64
			for _, p := range samples {
				if p.TimeStamp >= newest {
					newest = p.TimeStamp
				}
				// Samples come oldest first; the last per pid wins.
				g.procs.sm[p.Pid] = p.SmUtil
			}
			if newest > g.procs.lastSample {
				g.procs.lastSample = newest
			}
		case nvml.ERROR_NOT_FOUND: // no sample since the last scrape
		default:
			errs = append(errs, fmt.Errorf("GetProcessUtilization: %w", ret))
		}
	}
	for _, p := range procs {
		seen[p.Pid] = true
		o, ok := s.owners[p.Pid]
		if !ok {
			o = attribution.ProcessOwner(s.cfg.RootPath, p.Pid)
			s.owners[p.Pid] = o
		}
		res := pcommon.NewResource()
		gpuRes.CopyTo(res)
		attrs := res.Attributes()
		attrs.PutInt("process.pid", int64(p.Pid))
		if o.ContainerID != "" && s.cfg.ResourceAttributes.ContainerID.Enabled {
			attrs.PutStr("container.id", o.ContainerID)
		}
		if o.PodUID != "" && s.cfg.ResourceAttributes.K8sPodUID.Enabled {
			attrs.PutStr("k8s.pod.uid", o.PodUID)
		}
		// NVML reports no memory for a process under some hypervisors and
		// in MIG mode without privileges (NVML_VALUE_NOT_AVAILABLE).
		if p.UsedGpuMemory != ^uint64(0) {
			s.mb.RecordNvidiaGpuProcessMemoryUsageDataPoint(ts, int64(p.UsedGpuMemory))
		}
		if sm, ok := g.procs.sm[p.Pid]; ok {
			s.mb.RecordNvidiaGpuProcessSmUtilizationDataPoint(ts, float64(sm)/100)
		}
		s.mb.EmitForResource(metadata.WithResource(res))
	}
	return errors.Join(errs...)
}

// pruneOwners forgets processes that ended, so a reused pid is looked up again.
func (s *nvmlScraper) pruneOwners(seen map[uint32]bool) {
	for pid := range s.owners {
		if !seen[pid] {
			delete(s.owners, pid)
		}
	}
}
