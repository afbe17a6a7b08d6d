package infinibandreceiver // import "github.com/acceltel/acceltel/receivers/infinibandreceiver"

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"

	"github.com/acceltel/acceltel/receivers/infinibandreceiver/internal/metadata"
)

type portKey struct {
	device string
	port   int64
}

// portSample is what the ratios of the next scrape are computed from.
type portSample struct {
	at              time.Time
	xmit, rcv, wait uint64
	hasIO, hasWait  bool
	rateBytesPerSec int64
}

// hcaTopology is where an HCA sits and which GPUs are closest to it; PCI
// topology does not change while the device exists, so it is read once.
type hcaTopology struct {
	pci      pciDevice
	err      error
	gpus     []string
	affinity metadata.AttributeAffinity
}

type infinibandScraper struct {
	cfg     *Config
	logger  *zap.Logger
	mb      *metadata.MetricsBuilder
	sysRoot string
	filter  map[string]bool

	reader    fileReader
	host      component.Host
	available *bool // nil until the first look
	gpus      []pciDevice
	topology  map[string]*hcaTopology
	prev      map[portKey]portSample
	saturated map[string]bool // "<device>/<port>/<counter>" already logged
}

func newScraper(cfg *Config, set receiver.Settings) *infinibandScraper {
	s := &infinibandScraper{
		cfg:       cfg,
		logger:    set.Logger,
		mb:        metadata.NewMetricsBuilder(cfg.MetricsBuilderConfig, set),
		sysRoot:   filepath.Join(cfg.RootPath, "sys"),
		topology:  map[string]*hcaTopology{},
		prev:      map[portKey]portSample{},
		saturated: map[string]bool{},
	}
	if len(cfg.Devices) > 0 {
		s.filter = map[string]bool{}
		for _, d := range cfg.Devices {
			s.filter[d] = true
		}
	}
	return s
}

func (s *infinibandScraper) start(_ context.Context, host component.Host) error {
	s.host = host
	gpus, err := discoverGPUs(&s.reader, s.sysRoot)
	if err != nil {
		s.logger.Warn("cannot list PCI devices; HCAs will not be mapped to GPUs", zap.Error(err))
	}
	s.gpus = gpus
	return nil
}

// setAvailable logs and reports a change of availability, once per change.
func (s *infinibandScraper) setAvailable(ok bool, reason string) {
	if s.available != nil && *s.available == ok {
		return
	}
	s.available = &ok
	attrs := pcommon.NewMap()
	attrs.PutBool("acceltel.available", ok)
	if ok {
		s.logger.Info("InfiniBand devices found", zap.String("path", reason))
	} else {
		s.logger.Info("no InfiniBand devices; the receiver stays idle and looks again at each scrape", zap.String("reason", reason))
		attrs.PutStr("acceltel.reason", reason)
	}
	if s.host != nil {
		componentstatus.ReportStatus(s.host, componentstatus.NewEvent(componentstatus.StatusOK, componentstatus.WithAttributes(attrs)))
	}
}

func (s *infinibandScraper) scrape(context.Context) (pmetric.Metrics, error) {
	now := time.Now()
	ts := pcommon.NewTimestampFromTime(now)
	classDir := filepath.Join(s.sysRoot, "class", "infiniband")

	entries, err := os.ReadDir(classDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		s.setAvailable(false, err.Error())
		s.mb.RecordAcceltelReceiverAvailableDataPoint(ts, 0, metadata.Type.String())
		return s.mb.Emit(), err
	}
	var names []string
	for _, e := range entries {
		if s.filter == nil || s.filter[e.Name()] {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		s.setAvailable(false, fmt.Sprintf("no devices under %s", classDir))
		s.mb.RecordAcceltelReceiverAvailableDataPoint(ts, 0, metadata.Type.String())
		return s.mb.Emit(), nil
	}
	s.setAvailable(true, classDir)

	var errs scrapererror.ScrapeErrors
	slices.Sort(names)
	for _, name := range names {
		s.scrapeDevice(now, ts, filepath.Join(classDir, name), name, &errs)
	}
	s.mb.RecordAcceltelReceiverAvailableDataPoint(ts, 1, metadata.Type.String())
	return s.mb.Emit(), errs.Combine()
}

// readOptional reads a file that some HCAs lack; only a failed read of a file that exists is an error.
func (s *infinibandScraper) readOptional(path string, errs *scrapererror.ScrapeErrors) (string, bool) {
	v, err := s.reader.readString(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			errs.AddPartial(1, err)
		}
		return "", false
	}
	return v, true
}

func (s *infinibandScraper) scrapeDevice(now time.Time, ts pcommon.Timestamp, dir, name string, errs *scrapererror.ScrapeErrors) {
	rb := s.mb.NewResourceBuilder()
	rb.SetInfinibandDevice(name)
	if v, ok := s.readOptional(filepath.Join(dir, "hca_type"), errs); ok {
		rb.SetInfinibandHcaType(v)
	}
	if v, ok := s.readOptional(filepath.Join(dir, "board_id"), errs); ok {
		rb.SetInfinibandBoardID(v)
	}
	if v, ok := s.readOptional(filepath.Join(dir, "fw_ver"), errs); ok {
		rb.SetInfinibandFwVersion(v)
	}
	if v, ok := s.readOptional(filepath.Join(dir, "node_guid"), errs); ok {
		rb.SetInfinibandNodeGUID(v)
	}
	if topo := s.hcaTopology(dir, name); topo.err == nil {
		rb.SetInfinibandPciBusID(topo.pci.busID)
		rb.SetInfinibandNumaNode(topo.pci.numaNode)
		for _, gpu := range topo.gpus {
			s.mb.RecordInfinibandGpuAffinityDataPoint(ts, 1, gpu, topo.affinity)
		}
	}

	portsDir := filepath.Join(dir, "ports")
	ports, err := os.ReadDir(portsDir)
	if err != nil {
		errs.AddPartial(1, fmt.Errorf("%s: %w", name, err))
	}
	for _, p := range ports {
		num, err := strconv.ParseInt(p.Name(), 10, 64)
		if err != nil {
			continue
		}
		s.scrapePort(now, ts, filepath.Join(portsDir, p.Name()), portKey{device: name, port: num}, errs)
	}
	s.mb.EmitForResource(metadata.WithResource(rb.Emit()))
}

func (s *infinibandScraper) hcaTopology(dir, name string) *hcaTopology {
	if t, ok := s.topology[name]; ok {
		return t
	}
	t := &hcaTopology{}
	t.pci, t.err = readPCIDevice(&s.reader, s.sysRoot, filepath.Join(dir, "device"))
	if t.err != nil {
		s.logger.Warn("cannot place HCA on the PCI bus; no GPU affinity for it", zap.String("device", name), zap.Error(t.err))
	} else {
		best := 0
		for _, gpu := range s.gpus {
			level, rank := affinity(t.pci, gpu)
			switch {
			case rank == 0 || rank < best:
				continue
			case rank > best:
				best, t.gpus = rank, t.gpus[:0]
				t.affinity = metadata.MapAttributeAffinity[level]
			}
			t.gpus = append(t.gpus, gpu.busID)
		}
		slices.Sort(t.gpus)
	}
	s.topology[name] = t
	return t
}

func (s *infinibandScraper) scrapePort(now time.Time, ts pcommon.Timestamp, dir string, key portKey, errs *scrapererror.ScrapeErrors) {
	port := key.port
	if v, ok := s.readOptional(filepath.Join(dir, "state"), errs); ok {
		if cur, known := portState(v); known {
			for name, attr := range metadata.MapAttributeState {
				s.mb.RecordInfinibandPortStateDataPoint(ts, b2i(name == cur), port, attr)
			}
		} else {
			errs.AddPartial(1, fmt.Errorf("%s/state: unknown state %q", dir, v))
		}
	}
	if v, ok := s.readOptional(filepath.Join(dir, "phys_state"), errs); ok {
		if cur, known := physState(v); known {
			for name, attr := range metadata.MapAttributePhysState {
				s.mb.RecordInfinibandPortPhysStateDataPoint(ts, b2i(name == cur), port, attr)
			}
		} else {
			errs.AddPartial(1, fmt.Errorf("%s/phys_state: unknown state %q", dir, v))
		}
	}

	sample := portSample{at: now}
	if v, ok := s.readOptional(filepath.Join(dir, "rate"), errs); ok {
		rate, err := linkRate(v)
		if err != nil {
			errs.AddPartial(1, fmt.Errorf("%s/rate: %w", dir, err))
		} else {
			sample.rateBytesPerSec = rate
			layer := metadata.AttributeLinkLayerInfiniBand
			if ll, ok := s.readOptional(filepath.Join(dir, "link_layer"), errs); ok && ll == "Ethernet" {
				layer = metadata.AttributeLinkLayerEthernet
			}
			s.mb.RecordInfinibandPortRateDataPoint(ts, rate, port, layer)
		}
	}

	s.scrapeCounters(ts, dir, key, &sample, errs)
	s.scrapeHWCounters(ts, dir, port, errs)
	s.recordRatios(ts, key, sample)
}

func (s *infinibandScraper) scrapeCounters(ts pcommon.Timestamp, dir string, key portKey, sample *portSample, errs *scrapererror.ScrapeErrors) {
	countersDir := filepath.Join(dir, "counters")
	var xmitOK, rcvOK bool
	for _, c := range portCounters {
		v, err := s.reader.readUint(filepath.Join(countersDir, c.file))
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				errs.AddPartial(1, err)
			}
			continue
		}
		if limit := uint64(math.MaxInt64) / counterScale(c.kind); v > limit {
			errs.AddPartial(1, fmt.Errorf("%s: counter %d out of range", filepath.Join(countersDir, c.file), v))
			continue
		}
		if c.bits < 64 {
			sat := c.saturated(v)
			s.mb.RecordInfinibandPortCounterSaturatedDataPoint(ts, b2i(sat), key.port, c.file)
			if sat {
				s.logSaturated(key, c)
				continue
			}
		}
		switch c.kind {
		case kindIO:
			// port_xmit_data and port_rcv_data count 4-octet words.
			s.mb.RecordInfinibandPortIoDataPoint(ts, int64(v*4), key.port, c.direction)
			if c.direction == metadata.AttributeDirectionTransmit {
				sample.xmit, xmitOK = v*4, true
			} else {
				sample.rcv, rcvOK = v*4, true
			}
		case kindPackets:
			s.mb.RecordInfinibandPortPacketsDataPoint(ts, int64(v), key.port, c.direction, c.packetType)
		case kindError:
			s.mb.RecordInfinibandPortErrorsDataPoint(ts, int64(v), key.port, c.file)
		case kindXmitWait:
			s.mb.RecordInfinibandPortXmitWaitDataPoint(ts, int64(v), key.port)
			sample.wait, sample.hasWait = v, true
		}
	}
	sample.hasIO = xmitOK && rcvOK
}

func (s *infinibandScraper) logSaturated(key portKey, c portCounter) {
	id := fmt.Sprintf("%s/%d/%s", key.device, key.port, c.file)
	if s.saturated[id] {
		return
	}
	s.saturated[id] = true
	s.logger.Warn("counter saturated at the maximum of its width; its value is withheld until it is cleared",
		zap.String("device", key.device), zap.Int64("port", key.port), zap.String("counter", c.file), zap.Uint("bits", c.bits))
}

// scrapeHWCounters reports every vendor counter present (mlx5 has about 30; mlx4 has none).
func (s *infinibandScraper) scrapeHWCounters(ts pcommon.Timestamp, dir string, port int64, errs *scrapererror.ScrapeErrors) {
	hwDir := filepath.Join(dir, "hw_counters")
	entries, err := os.ReadDir(hwDir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			errs.AddPartial(1, err)
		}
		return
	}
	for _, e := range entries {
		name := e.Name()
		if name == "lifespan" { // a setting (ms between refreshes), not a counter
			continue
		}
		v, err := s.reader.readUint(filepath.Join(hwDir, name))
		if err == nil && v > math.MaxInt64 {
			err = fmt.Errorf("%s: counter %d out of range", filepath.Join(hwDir, name), v)
		}
		if err != nil {
			errs.AddPartial(1, err)
			continue
		}
		s.mb.RecordInfinibandPortHwCounterDataPoint(ts, int64(v), port, name)
	}
}

// recordRatios turns the change since the previous scrape into utilization
// and the share of capacity lost to transmit waits. A counter that went
// backwards was cleared by someone else: that interval is skipped.
func (s *infinibandScraper) recordRatios(ts pcommon.Timestamp, key portKey, cur portSample) {
	prev, ok := s.prev[key]
	s.prev[key] = cur
	if !ok || cur.rateBytesPerSec <= 0 {
		return
	}
	capacity := float64(cur.rateBytesPerSec) * cur.at.Sub(prev.at).Seconds()
	if capacity <= 0 {
		return
	}
	if cur.hasIO && prev.hasIO && cur.xmit >= prev.xmit && cur.rcv >= prev.rcv {
		s.mb.RecordInfinibandPortUtilizationDataPoint(ts, float64(cur.xmit-prev.xmit)/capacity, key.port, metadata.AttributeDirectionTransmit)
		s.mb.RecordInfinibandPortUtilizationDataPoint(ts, float64(cur.rcv-prev.rcv)/capacity, key.port, metadata.AttributeDirectionReceive)
	}
	if cur.hasWait && prev.hasWait && cur.wait >= prev.wait {
		lost := float64(cur.wait-prev.wait) * float64(s.cfg.XmitWaitBytesPerTick) / capacity
		s.mb.RecordInfinibandPortXmitWaitRatioDataPoint(ts, min(lost, 1), key.port)
	}
}

// counterScale is what a counter's value is multiplied by for its metric:
// port_xmit_data and port_rcv_data count 4-octet words.
func counterScale(k counterKind) uint64 {
	if k == kindIO {
		return 4
	}
	return 1
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
