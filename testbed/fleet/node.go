package fleet

import (
	"fmt"
	"math"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// What a simulated node is: a DGX H100-like machine with 8 GPUs, 8
// InfiniBand HCAs (one per GPU, behind the same PCIe switch) and one rank of
// a training job per GPU. Its scrape carries what agent.yaml puts on Kafka
// for it: the nvml, infiniband and nccl receivers' metrics (names,
// attributes and resources as their metadata.yaml declare them;
// metadata_test.go checks that) and the training job's own ml.train.tokens
// over OTLP, every resource with the host.name and k8s.node.name the
// agent's resource processor inserts.
const (
	GPUsPerNode = 8
	hcasPerNode = 8
	gpuModel    = "NVIDIA H100 80GB HBM3"
	namespace   = "training"
	// nodesPerJob: a training job spans 8 nodes (64 GPUs); its pods hold
	// every GPU of their node, one pod per node.
	nodesPerJob = 8

	scopeNVML       = "github.com/acceltel/acceltel/receivers/nvmlreceiver"
	scopeInfiniBand = "github.com/acceltel/acceltel/receivers/infinibandreceiver"
	scopeNCCL       = "github.com/acceltel/acceltel/receivers/ncclreceiver"
	scopeVersion    = "0.1.0"
)

// mlx5HWCounters are the counters of an mlx5 port's hw_counters/ directory
// (receivers/infinibandreceiver/testdata, less lifespan, which is a setting).
var mlx5HWCounters = []string{
	"duplicate_request", "implied_nak_seq_err", "local_ack_timeout_err", "np_cnp_sent",
	"np_ecn_marked_roce_packets", "out_of_buffer", "out_of_sequence", "packet_seq_err",
	"req_cqe_error", "req_cqe_flush_error", "req_remote_access_errors", "req_remote_invalid_request",
	"resp_cqe_error", "resp_cqe_flush_error", "resp_local_length_error", "resp_remote_access_errors",
	"rnr_nak_retry_err", "roce_adp_retrans", "roce_adp_retrans_to", "roce_slow_restart",
	"roce_slow_restart_cnps", "roce_slow_restart_trans", "rp_cnp_handled", "rp_cnp_ignored",
	"rx_atomic_requests", "rx_icrc_encapsulated", "rx_read_requests", "rx_write_requests",
}

// ibPortCounter is a file of a port's counters/ directory as the
// infiniband receiver maps it (receivers/infinibandreceiver/counters.go).
type ibPortCounter struct {
	file      string
	bits      int
	kind      string // io, packets, error, xmit_wait
	direction string
	packets   string
}

var ibPortCounters = []ibPortCounter{
	{"port_xmit_data", 32, "io", "transmit", ""},
	{"port_rcv_data", 32, "io", "receive", ""},
	{"port_xmit_packets", 32, "packets", "transmit", "all"},
	{"port_rcv_packets", 32, "packets", "receive", "all"},
	{"unicast_xmit_packets", 64, "packets", "transmit", "unicast"},
	{"unicast_rcv_packets", 64, "packets", "receive", "unicast"},
	{"multicast_xmit_packets", 64, "packets", "transmit", "multicast"},
	{"multicast_rcv_packets", 64, "packets", "receive", "multicast"},
	{"port_xmit_wait", 32, "xmit_wait", "", ""},
	{"symbol_error", 16, "error", "", ""},
	{"link_error_recovery", 8, "error", "", ""},
	{"link_downed", 8, "error", "", ""},
	{"port_rcv_errors", 16, "error", "", ""},
	{"port_rcv_remote_physical_errors", 16, "error", "", ""},
	{"port_rcv_switch_relay_errors", 16, "error", "", ""},
	{"port_rcv_constraint_errors", 8, "error", "", ""},
	{"port_xmit_discards", 16, "error", "", ""},
	{"port_xmit_constraint_errors", 8, "error", "", ""},
	{"excessive_buffer_overrun_errors", 4, "error", "", ""},
	{"local_link_integrity_errors", 4, "error", "", ""},
	{"VL15_dropped", 16, "error", "", ""},
}

// ncclSeries is one (collective, communicator, algorithm, protocol) of a
// rank, as the nccl receiver keys nccl.operation.count and friends.
type ncclSeries struct {
	collective, algorithm, protocol string
	tp                              bool    // the node's tensor-parallel communicator, else the job's data-parallel one
	perSec                          float64 // operations per second
	bytes                           float64 // bytes per operation
	busBW                           float64 // bus bandwidth, By/s
	seconds                         float64 // duration of one operation
}

var ncclWorkload = []ncclSeries{
	{"AllReduce", "NVLS", "Simple", true, 40, 64 << 20, 360e9, 0.0004},
	{"AllGather", "Ring", "LL128", true, 80, 16 << 20, 330e9, 0.0001},
	{"ReduceScatter", "Ring", "Simple", true, 80, 16 << 20, 320e9, 0.0001},
	{"AllReduce", "Tree", "Simple", false, 2, 1 << 30, 45e9, 0.05},
}

// Histogram bounds of the nccl receiver (receivers/ncclreceiver/aggregate.go).
var (
	durationBounds  = powers(1e-6, 25)
	bandwidthBounds = powers(1e6, 22)
)

func powers(base float64, n int) []float64 {
	b := make([]float64, n)
	for i := range b {
		b[i] = base * math.Pow(2, float64(i))
	}
	return b
}

// A num is a number point of the node and how its value moves: a gauge
// wanders around base, a counter grows by rate per second, a constant stays.
type num struct {
	dp    pmetric.NumberDataPoint
	isInt bool
	kind  uint8
	base  float64 // gauge centre, constant value, or counter's start
	amp   float64 // gauge: relative swing
	rate  float64 // counter: per second
	v     float64 // counter: current value
	phase float64
}

const (
	constant uint8 = iota
	gauge
	counter
)

// A hist is a cumulative histogram point: perSec observations a second,
// mostly in bucket centre, each worth value (for the sum).
type hist struct {
	dp     pmetric.HistogramDataPoint
	centre int
	perSec float64
	value  float64
	counts []uint64
	carry  float64
}

// Node is one simulated GPU node: its metrics, built once and updated in
// place at every scrape, so that generating load costs little next to what
// the gateway does with it.
type Node struct {
	Name string
	// Points is the number of data points in each scrape.
	Points int

	md    pmetric.Metrics
	nums  []num
	hists []hist
	last  time.Time
	rng   uint64
	round int
}

// NewNode builds node number index of the fleet, started at start.
func NewNode(index int, start time.Time) *Node {
	n := &Node{
		Name: fmt.Sprintf("gpu-node-%04d", index),
		md:   pmetric.NewMetrics(),
		last: start,
		rng:  uint64(index)*0x9E3779B97F4A7C15 + 1,
	}
	b := builder{n: n, start: pcommon.NewTimestampFromTime(start)}
	job := index / nodesPerJob
	jobID := fmt.Sprintf("llama-70b-pretrain-%03d", job)
	pod := fmt.Sprintf("%s-worker-%d", jobID, index%nodesPerJob)
	podUID := fmt.Sprintf("5f1c%04x-0000-4000-8000-%012x", job, index)
	busIDs := [GPUsPerNode]string{}
	for i := range busIDs {
		busIDs[i] = fmt.Sprintf("0000:%02x:00.0", []int{0x18, 0x2a, 0x3a, 0x5d, 0x9a, 0xab, 0xba, 0xdb}[i])
	}

	// nvml: one resource per GPU, then the receiver's availability.
	for i := range GPUsPerNode {
		res := b.resource(n.Name,
			str("hw.id", fmt.Sprintf("GPU-%08x-%04x-4%03x-8000-%012x", index, i, index%0xfff, index*GPUsPerNode+i)),
			str("hw.model", gpuModel), str("hw.name", fmt.Sprintf("nvidia%d", i)), str("hw.vendor", "NVIDIA"),
			integer("nvidia.gpu.index", int64(i)), integer("nvidia.gpu.numa_node", int64(i/4)),
			str("pci.bus_id", busIDs[i]), str("nvidia.driver.version", "550.54.15"), str("nvidia.cuda.driver.version", "12.4"),
			str("k8s.pod.name", pod), str("k8s.namespace.name", namespace), str("k8s.container.name", "trainer"))
		ms := b.scope(res, scopeNVML)
		smClock := 1980e6
		// One GPU in 16 nodes lags its node's peers: the gateway's peer
		// group has something to flag, as in a real fleet.
		if index%16 == 5 && i == 3 {
			smClock = 1410e6
		}
		b.sum(ms, "hw.energy", "J", false, true, num{kind: counter, base: 5e7, rate: 650})
		for _, ctr := range []string{"volatile", "aggregate"} {
			for _, typ := range []string{"corrected", "uncorrected"} {
				b.sum(ms, "hw.errors", "{error}", true, true, num{kind: constant}, str("error.type", typ), str("nvidia.gpu.ecc.counter", ctr))
			}
		}
		b.sum(ms, "hw.gpu.memory.limit", "By", true, false, num{kind: constant, base: 85520809984})
		b.sum(ms, "hw.gpu.memory.usage", "By", true, false, num{kind: gauge, base: 7.2e10, amp: 0.02})
		b.gauges(ms, "hw.gpu.utilization", "1", false, "hw.gpu.task",
			[]string{"general", "encoder", "decoder"}, []num{{kind: gauge, base: 0.93, amp: 0.05}, {kind: constant}, {kind: constant}})
		b.gauge(ms, "hw.power", "W", false, num{kind: gauge, base: 650, amp: 0.06})
		b.gauges(ms, "hw.temperature", "Cel", false, "hw.sensor_location",
			[]string{"gpu", "memory"}, []num{{kind: gauge, base: 62, amp: 0.05}, {kind: gauge, base: 71, amp: 0.04}})
		b.sum(ms, "nvidia.gpu.bar1.limit", "By", true, false, num{kind: constant, base: 137438953472})
		b.sum(ms, "nvidia.gpu.bar1.usage", "By", true, false, num{kind: gauge, base: 4.2e7, amp: 0.1})
		clocks := []string{"graphics", "sm", "memory"}
		b.gauges(ms, "nvidia.gpu.clock.frequency", "Hz", true, "nvidia.gpu.clock", clocks,
			[]num{{kind: gauge, base: smClock, amp: 0.01}, {kind: gauge, base: smClock, amp: 0.01}, {kind: constant, base: 2619e6}})
		b.gauges(ms, "nvidia.gpu.clock.max", "Hz", true, "nvidia.gpu.clock", clocks,
			[]num{{kind: constant, base: 1980e6}, {kind: constant, base: 1980e6}, {kind: constant, base: 2619e6}})
		reasons := []string{"gpu_idle", "applications_clocks_setting", "sw_power_cap", "hw_slowdown", "sync_boost",
			"sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown", "display_clock_setting", "board_limit", "reliability"}
		b.gauges(ms, "nvidia.gpu.clock_event.reason", "{state}", true, "nvidia.gpu.clock_event.reason", reasons, nil)
		// GPM (Hopper+): the receiver emits these from its second scrape on.
		b.gauge(ms, "nvidia.gpu.dram.activity", "1", false, num{kind: gauge, base: 0.45, amp: 0.15})
		b.sum(ms, "nvidia.gpu.memory.free", "By", true, false, num{kind: gauge, base: 1.3e10, amp: 0.1})
		b.sum(ms, "nvidia.gpu.memory.reserved", "By", true, false, num{kind: constant, base: 5.4e8})
		b.gauge(ms, "nvidia.gpu.memory_controller.utilization", "1", false, num{kind: gauge, base: 0.55, amp: 0.15})
		b.sums(ms, "nvidia.gpu.nvlink.errors", "{error}", true, "error.type", []string{"crc_flit", "crc_data", "replay", "recovery"}, nil)
		b.sums(ms, "nvidia.gpu.nvlink.io", "By", true, "network.io.direction", []string{"transmit", "receive"},
			[]num{{kind: counter, base: 1e12, rate: 1.5e11}, {kind: counter, base: 1e12, rate: 1.5e11}})
		b.gauges(ms, "nvidia.gpu.nvlink.throughput", "By/s", false, "network.io.direction", []string{"transmit", "receive"},
			[]num{{kind: gauge, base: 1.5e11, amp: 0.2}, {kind: gauge, base: 1.5e11, amp: 0.2}})
		b.gauge(ms, "nvidia.gpu.pcie.link.generation", "{generation}", true, num{kind: constant, base: 5})
		b.gauge(ms, "nvidia.gpu.pcie.link.generation.max", "{generation}", true, num{kind: constant, base: 5})
		b.gauge(ms, "nvidia.gpu.pcie.link.width", "{lane}", true, num{kind: constant, base: 16})
		b.gauge(ms, "nvidia.gpu.pcie.link.width.max", "{lane}", true, num{kind: constant, base: 16})
		b.sum(ms, "nvidia.gpu.pcie.replay", "{replay}", true, true, num{kind: constant})
		b.gauges(ms, "nvidia.gpu.pcie.throughput", "By/s", true, "network.io.direction", []string{"transmit", "receive"},
			[]num{{kind: gauge, base: 2.1e9, amp: 0.3}, {kind: gauge, base: 3.4e9, amp: 0.3}})
		b.gauges(ms, "nvidia.gpu.pipe.activity", "1", false, "nvidia.gpu.pipe", []string{"fp16", "fp32", "fp64"},
			[]num{{kind: gauge, base: 0.05, amp: 0.3}, {kind: gauge, base: 0.12, amp: 0.2}, {kind: constant}})
		b.gauge(ms, "nvidia.gpu.power.limit", "W", false, num{kind: constant, base: 700})
		b.gauge(ms, "nvidia.gpu.remap.failed", "{state}", true, num{kind: constant})
		b.gauge(ms, "nvidia.gpu.remap.pending", "{state}", true, num{kind: constant})
		b.sums(ms, "nvidia.gpu.remapped_rows", "{row}", true, "nvidia.gpu.remap.cause", []string{"correctable", "uncorrectable"}, nil)
		b.gauge(ms, "nvidia.gpu.sm.activity", "1", false, num{kind: gauge, base: 0.85, amp: 0.05})
		b.gauge(ms, "nvidia.gpu.sm.occupancy", "1", false, num{kind: gauge, base: 0.35, amp: 0.1})
		b.gauge(ms, "nvidia.gpu.tensor.activity", "1", false, num{kind: gauge, base: 0.55, amp: 0.1})
		b.sums(ms, "nvidia.gpu.throttle.time", "s", false, "nvidia.gpu.throttle.cause",
			[]string{"power", "thermal", "sync_boost", "board_limit", "low_utilization", "reliability", "total_app_clocks", "total_base_clocks"},
			[]num{{kind: counter, rate: 0.02}, {kind: constant}, {kind: counter, rate: 0.001}, {kind: constant},
				{kind: constant}, {kind: constant}, {kind: counter, rate: 0.02}, {kind: counter, rate: 0.05}})
	}
	b.available(scopeNVML, "nvml")

	// infiniband: one resource per HCA, port 1, then the availability.
	for h := range hcasPerNode {
		res := b.resource(n.Name,
			str("infiniband.device", fmt.Sprintf("mlx5_%d", h)), str("infiniband.hca_type", "MT4129"),
			str("infiniband.board_id", "MT_0000000838"), str("infiniband.fw_version", "28.39.1002"),
			str("infiniband.node_guid", fmt.Sprintf("a088:c203:00%02x:%04x", h, index)),
			str("infiniband.pci.bus_id", fmt.Sprintf("0000:%02x:00.0", []int{0x19, 0x2b, 0x3b, 0x5e, 0x9b, 0xac, 0xbb, 0xdc}[h])),
			integer("infiniband.numa_node", int64(h/4)))
		ms := b.scope(res, scopeInfiniBand)
		b.gauge(ms, "infiniband.gpu.affinity", "{gpu}", true, num{kind: constant, base: 1},
			str("pci.bus_id", busIDs[h]), str("infiniband.gpu.affinity", "pci_switch"))
		port := integer("infiniband.port", 1)
		b.gauges(ms, "infiniband.port.state", "{state}", true, "infiniband.port.state",
			[]string{"down", "init", "armed", "active", "active_defer"},
			[]num{{kind: constant}, {kind: constant}, {kind: constant}, {kind: constant, base: 1}, {kind: constant}}, port)
		b.gauges(ms, "infiniband.port.phys_state", "{state}", true, "infiniband.port.phys_state",
			[]string{"sleep", "polling", "disabled", "port_configuration_training", "link_up", "link_error_recovery", "phy_test"},
			[]num{{kind: constant}, {kind: constant}, {kind: constant}, {kind: constant}, {kind: constant, base: 1}, {kind: constant}, {kind: constant}}, port)
		b.gauge(ms, "infiniband.port.rate", "By/s", true, num{kind: constant, base: 5e10}, port, str("infiniband.link_layer", "InfiniBand"))
		saturated := b.metric(ms, "infiniband.port.counter.saturated", "{counter}").SetEmptyGauge().DataPoints()
		for _, c := range ibPortCounters {
			if c.bits < 64 {
				b.point(saturated, true, num{kind: constant}, port, str("infiniband.counter", c.file))
			}
		}
		io := b.cumulative(ms, "infiniband.port.io", "By")
		packets := b.cumulative(ms, "infiniband.port.packets", "{packet}")
		errs := b.cumulative(ms, "infiniband.port.errors", "{error}")
		for _, c := range ibPortCounters {
			switch c.kind {
			case "io":
				b.point(io, true, num{kind: counter, base: 1e13, rate: 1.8e10}, port, str("network.io.direction", c.direction))
			case "packets":
				rate := 4.4e6
				if c.packets == "multicast" {
					rate = 3
				}
				b.point(packets, true, num{kind: counter, base: 1e9, rate: rate}, port,
					str("network.io.direction", c.direction), str("infiniband.packet.type", c.packets))
			case "error":
				b.point(errs, true, num{kind: constant}, port, str("error.type", c.file))
			}
		}
		b.sum(ms, "infiniband.port.xmit_wait", "{tick}", true, true, num{kind: counter, base: 1e8, rate: 2e5}, port)
		hw := b.cumulative(ms, "infiniband.port.hw_counter", "{event}")
		for j, c := range mlx5HWCounters {
			model := num{kind: constant}
			if j%4 == 0 { // some move (CNPs, retransmissions, read and write requests)
				model = num{kind: counter, rate: float64(10 * (j + 1))}
			}
			b.point(hw, true, model, port, str("infiniband.counter", c))
		}
		b.gauges(ms, "infiniband.port.utilization", "1", false, "network.io.direction", []string{"transmit", "receive"},
			[]num{{kind: gauge, base: 0.36, amp: 0.2}, {kind: gauge, base: 0.36, amp: 0.2}}, port)
		b.gauge(ms, "infiniband.port.xmit_wait.ratio", "1", false, num{kind: gauge, base: 0.01, amp: 0.5}, port)
	}
	b.available(scopeInfiniBand, "infiniband")

	// nccl: the receiver's own resource (availability, evictions, the
	// completion spread across ranks), then one resource per rank process.
	tpComm := fmt.Sprintf("%016x", uint64(index)*0x2545F4914F6CDD1D)
	dpComm := fmt.Sprintf("%016x", uint64(job)*0x9E3779B97F4A7C15+7)
	comm := func(s ncclSeries) (string, int64, int64) {
		if s.tp {
			return tpComm, GPUsPerNode, 1
		}
		return dpComm, GPUsPerNode * nodesPerJob, nodesPerJob
	}
	res := b.resource(n.Name)
	ms := b.scope(res, scopeNCCL)
	b.gauge(ms, "acceltel.receiver.available", "{status}", true, num{kind: constant, base: 1}, str("acceltel.receiver", "nccl"))
	b.sum(ms, "acceltel.nccl.sequences.evicted", "{sequence}", true, true, num{kind: constant})
	spread := b.histograms(ms, "nccl.collective.completion.spread", "s")
	for _, s := range ncclWorkload {
		id, size, _ := comm(s)
		b.histogram(spread, durationBounds, 8, s.perSec, s.seconds/20,
			str("nccl.collective", s.collective), str("nccl.communicator.id", id), integer("nccl.communicator.size", size))
	}
	for r := range GPUsPerNode {
		res := b.resource(n.Name, integer("process.pid", int64(4000+r)), integer("nccl.cuda.device", int64(r)),
			str("container.id", fmt.Sprintf("%064x", uint64(index)<<8|uint64(r))), str("k8s.pod.uid", podUID))
		ms := b.scope(res, scopeNCCL)
		b.sum(ms, "acceltel.nccl.records.dropped", "{record}", true, true, num{kind: constant})
		count := b.cumulative(ms, "nccl.operation.count", "{operation}")
		bytes := b.cumulative(ms, "nccl.operation.bytes", "By")
		busBW := b.metric(ms, "nccl.collective.bus_bandwidth", "By/s").SetEmptyGauge().DataPoints()
		for _, s := range ncclWorkload {
			id, size, nodes := comm(s)
			rank := int64(r)
			if !s.tp {
				rank = int64(index%nodesPerJob*GPUsPerNode + r)
			}
			attrs := []attr{str("nccl.collective", s.collective), str("nccl.communicator.id", id),
				integer("nccl.communicator.size", size), integer("nccl.communicator.nodes", nodes),
				integer("nccl.rank", rank), str("nccl.algorithm", s.algorithm), str("nccl.protocol", s.protocol)}
			b.point(count, true, num{kind: counter, rate: s.perSec}, attrs...)
			b.point(bytes, true, num{kind: counter, rate: s.perSec * s.bytes}, attrs...)
			b.point(busBW, false, num{kind: gauge, base: s.busBW, amp: 0.05}, attrs...)
		}
		lag := b.metric(ms, "nccl.rank.completion.lag", "s").SetEmptyGauge().DataPoints()
		b.point(lag, false, num{kind: gauge, base: 2e-5, amp: 1}, str("nccl.communicator.id", tpComm),
			integer("nccl.communicator.size", GPUsPerNode), integer("nccl.rank", int64(r)))
		b.point(lag, false, num{kind: gauge, base: 4e-4, amp: 1}, str("nccl.communicator.id", dpComm),
			integer("nccl.communicator.size", GPUsPerNode*nodesPerJob), integer("nccl.rank", int64(index%nodesPerJob*GPUsPerNode+r)))
		duration := b.histograms(ms, "nccl.operation.duration", "s")
		bandwidth := b.histograms(ms, "nccl.operation.bus_bandwidth", "By/s")
		for _, s := range ncclWorkload {
			id, size, nodes := comm(s)
			rank := int64(r)
			if !s.tp {
				rank = int64(index%nodesPerJob*GPUsPerNode + r)
			}
			attrs := []attr{str("nccl.collective", s.collective), str("nccl.communicator.id", id),
				integer("nccl.communicator.size", size), integer("nccl.communicator.nodes", nodes),
				integer("nccl.rank", rank), str("nccl.algorithm", s.algorithm), str("nccl.protocol", s.protocol)}
			b.histogram(duration, durationBounds, bucketOf(durationBounds, s.seconds), s.perSec, s.seconds, attrs...)
			b.histogram(bandwidth, bandwidthBounds, bucketOf(bandwidthBounds, s.busBW), s.perSec, s.busBW, attrs...)
		}
	}

	// The training job's own metrics, sent to the agent over OTLP by rank 0
	// of each node.
	res = b.resource(n.Name, str("service.name", "trainer"), str("service.instance.id", n.Name+"-rank0"),
		str("ml.job.id", jobID), str("k8s.pod.name", pod), str("k8s.namespace.name", namespace))
	ms = res.ScopeMetrics().AppendEmpty().Metrics()
	b.sum(ms, "ml.train.tokens", "{token}", true, true, num{kind: counter, rate: 4.2e5})
	b.startSums()
	return n
}

// bucketOf is the bucket a value falls into.
func bucketOf(bounds []float64, v float64) int {
	for i, b := range bounds {
		if v <= b {
			return i
		}
	}
	return len(bounds)
}

// Scrape moves every value on to time ts, as the receivers would report
// them then, and returns the node's metrics. They are the node's own: use
// (marshal) them before the next Scrape.
func (n *Node) Scrape(ts time.Time) pmetric.Metrics {
	dt := ts.Sub(n.last).Seconds()
	if dt < 0 {
		dt = 0
	}
	n.last = ts
	n.round++
	t := pcommon.NewTimestampFromTime(ts)
	secs := float64(ts.UnixNano()) / 1e9
	for i := range n.nums {
		s := &n.nums[i]
		var v float64
		switch s.kind {
		case constant:
			v = s.base
		case gauge:
			// A slow wave plus noise: the detectors see a living series.
			v = s.base * (1 + s.amp*(0.6*math.Sin(secs/60+s.phase)+0.4*n.noise()))
		case counter:
			s.v += s.rate * dt * (1 + 0.2*n.noise())
			v = s.v
		}
		if s.isInt {
			s.dp.SetIntValue(int64(v))
		} else {
			s.dp.SetDoubleValue(v)
		}
		s.dp.SetTimestamp(t)
	}
	for i := range n.hists {
		h := &n.hists[i]
		obs := h.perSec*dt + h.carry
		whole := math.Floor(obs)
		h.carry = obs - whole
		k := uint64(whole)
		// Most observations in the centre bucket, a tail in the next one.
		tail := k / 10
		h.counts[h.centre] += k - tail
		h.counts[min(h.centre+1, len(h.counts)-1)] += tail
		h.dp.BucketCounts().FromRaw(h.counts)
		h.dp.SetCount(h.dp.Count() + k)
		h.dp.SetSum(h.dp.Sum() + float64(k)*h.value)
		h.dp.SetTimestamp(t)
	}
	return n.md
}

// noise is uniform in [-1, 1) from a xorshift generator: cheap, and each
// node's sequence is the same in every run.
func (n *Node) noise() float64 {
	n.rng ^= n.rng << 13
	n.rng ^= n.rng >> 7
	n.rng ^= n.rng << 17
	return float64(n.rng>>11)/float64(1<<52) - 1
}

// attr is one attribute to put on a resource or a point.
type attr struct {
	key   string
	s     string
	i     int64
	isInt bool
}

func str(k, v string) attr           { return attr{key: k, s: v} }
func integer(k string, v int64) attr { return attr{key: k, i: v, isInt: true} }

func putAll(m pcommon.Map, attrs []attr) {
	m.EnsureCapacity(m.Len() + len(attrs))
	for _, a := range attrs {
		if a.isInt {
			m.PutInt(a.key, a.i)
		} else {
			m.PutStr(a.key, a.s)
		}
	}
}

// builder appends resources, metrics and points to a node, remembering
// each point so that Scrape can move it on.
type builder struct {
	n     *Node
	start pcommon.Timestamp
}

// resource is a resource of the node with the identity the agent adds.
func (b *builder) resource(node string, attrs ...attr) pmetric.ResourceMetrics {
	rm := b.n.md.ResourceMetrics().AppendEmpty()
	putAll(rm.Resource().Attributes(), attrs)
	putAll(rm.Resource().Attributes(), []attr{str("host.name", node), str("k8s.node.name", node)})
	return rm
}

func (b *builder) scope(rm pmetric.ResourceMetrics, name string) pmetric.MetricSlice {
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(name)
	sm.Scope().SetVersion(scopeVersion)
	return sm.Metrics()
}

// available is a receiver's acceltel.receiver.available on a resource of
// its own, as mdatagen's last Emit leaves it.
func (b *builder) available(scope, receiver string) {
	ms := b.scope(b.resource(b.n.Name), scope)
	b.gauge(ms, "acceltel.receiver.available", "{status}", true, num{kind: constant, base: 1}, str("acceltel.receiver", receiver))
}

func (b *builder) metric(ms pmetric.MetricSlice, name, unit string) pmetric.Metric {
	m := ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	return m
}

func (b *builder) point(dps pmetric.NumberDataPointSlice, isInt bool, model num, attrs ...attr) {
	dp := dps.AppendEmpty()
	putAll(dp.Attributes(), attrs)
	model.dp, model.isInt, model.v = dp, isInt, model.base
	model.phase = float64(len(b.n.nums)) * 0.37
	b.n.nums = append(b.n.nums, model)
	b.n.Points++
}

func (b *builder) gauge(ms pmetric.MetricSlice, name, unit string, isInt bool, model num, attrs ...attr) {
	b.point(b.metric(ms, name, unit).SetEmptyGauge().DataPoints(), isInt, model, attrs...)
}

// gauges is one gauge with a point per value of attribute key; models
// default to constant zero.
func (b *builder) gauges(ms pmetric.MetricSlice, name, unit string, isInt bool, key string, values []string, models []num, attrs ...attr) {
	dps := b.metric(ms, name, unit).SetEmptyGauge().DataPoints()
	for i, v := range values {
		model := num{kind: constant}
		if i < len(models) {
			model = models[i]
		}
		b.point(dps, isInt, model, append(attrs[:len(attrs):len(attrs)], str(key, v))...)
	}
}

// newSum is a cumulative sum; its points get the receiver's start time
// when the node is complete (startSums).
func (b *builder) newSum(ms pmetric.MetricSlice, name, unit string, monotonic bool) pmetric.NumberDataPointSlice {
	s := b.metric(ms, name, unit).SetEmptySum()
	s.SetIsMonotonic(monotonic)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	return s.DataPoints()
}

func (b *builder) cumulative(ms pmetric.MetricSlice, name, unit string) pmetric.NumberDataPointSlice {
	return b.newSum(ms, name, unit, true)
}

func (b *builder) sum(ms pmetric.MetricSlice, name, unit string, isInt, monotonic bool, model num, attrs ...attr) {
	dps := b.newSum(ms, name, unit, monotonic)
	b.point(dps, isInt, model, attrs...)
}

// sums is one monotonic sum with a point per value of attribute key.
func (b *builder) sums(ms pmetric.MetricSlice, name, unit string, isInt bool, key string, values []string, models []num) {
	dps := b.newSum(ms, name, unit, true)
	for i, v := range values {
		model := num{kind: constant}
		if i < len(models) {
			model = models[i]
		}
		b.point(dps, isInt, model, str(key, v))
	}
}

func (b *builder) histograms(ms pmetric.MetricSlice, name, unit string) pmetric.HistogramDataPointSlice {
	h := b.metric(ms, name, unit).SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	return h.DataPoints()
}

func (b *builder) histogram(dps pmetric.HistogramDataPointSlice, bounds []float64, centre int, perSec, value float64, attrs ...attr) {
	dp := dps.AppendEmpty()
	putAll(dp.Attributes(), attrs)
	dp.SetStartTimestamp(b.start)
	dp.ExplicitBounds().FromRaw(bounds)
	counts := make([]uint64, len(bounds)+1)
	dp.BucketCounts().FromRaw(counts)
	dp.SetMin(value * 0.9)
	dp.SetMax(value * 1.5)
	b.n.hists = append(b.n.hists, hist{dp: dp, centre: min(centre, len(bounds)), perSec: perSec, value: value, counts: counts})
	b.n.Points++
}

// startSums gives every sum point the start time of its receiver, as
// mdatagen's builders do for cumulative sums, monotonic or not.
func (b *builder) startSums() {
	for _, rm := range b.n.md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Type() == pmetric.MetricTypeSum {
					for _, dp := range m.Sum().DataPoints().All() {
						dp.SetStartTimestamp(b.start)
					}
				}
			}
		}
	}
}
