package infinibandreceiver // import "github.com/acceltel/acceltel/receivers/infinibandreceiver"

import "github.com/acceltel/acceltel/receivers/infinibandreceiver/internal/metadata"

// counterKind says which metric a counters/ file feeds.
type counterKind int

const (
	kindIO counterKind = iota
	kindPackets
	kindError
	kindXmitWait
)

// portCounter is one file of a port's counters/ directory. Widths are those
// of the InfiniBand PortCounters attribute: the kernel serves the data and
// packet counters from PortCountersExtended (64 bits) when the HCA has it and
// from the 32-bit fields otherwise; the error counters are always narrow and
// stop at their maximum instead of wrapping.
type portCounter struct {
	file       string
	kind       counterKind
	bits       uint
	direction  metadata.AttributeDirection
	packetType metadata.AttributePacketType
}

var portCounters = []portCounter{
	{file: "port_xmit_data", kind: kindIO, bits: 32, direction: metadata.AttributeDirectionTransmit},
	{file: "port_rcv_data", kind: kindIO, bits: 32, direction: metadata.AttributeDirectionReceive},
	{file: "port_xmit_packets", kind: kindPackets, bits: 32, direction: metadata.AttributeDirectionTransmit, packetType: metadata.AttributePacketTypeAll},
	{file: "port_rcv_packets", kind: kindPackets, bits: 32, direction: metadata.AttributeDirectionReceive, packetType: metadata.AttributePacketTypeAll},
	{file: "unicast_xmit_packets", kind: kindPackets, bits: 64, direction: metadata.AttributeDirectionTransmit, packetType: metadata.AttributePacketTypeUnicast},
	{file: "unicast_rcv_packets", kind: kindPackets, bits: 64, direction: metadata.AttributeDirectionReceive, packetType: metadata.AttributePacketTypeUnicast},
	{file: "multicast_xmit_packets", kind: kindPackets, bits: 64, direction: metadata.AttributeDirectionTransmit, packetType: metadata.AttributePacketTypeMulticast},
	{file: "multicast_rcv_packets", kind: kindPackets, bits: 64, direction: metadata.AttributeDirectionReceive, packetType: metadata.AttributePacketTypeMulticast},
	{file: "port_xmit_wait", kind: kindXmitWait, bits: 32},
	{file: "symbol_error", kind: kindError, bits: 16},
	{file: "link_error_recovery", kind: kindError, bits: 8},
	{file: "link_downed", kind: kindError, bits: 8},
	{file: "port_rcv_errors", kind: kindError, bits: 16},
	{file: "port_rcv_remote_physical_errors", kind: kindError, bits: 16},
	{file: "port_rcv_switch_relay_errors", kind: kindError, bits: 16},
	{file: "port_rcv_constraint_errors", kind: kindError, bits: 8},
	{file: "port_xmit_discards", kind: kindError, bits: 16},
	{file: "port_xmit_constraint_errors", kind: kindError, bits: 8},
	{file: "excessive_buffer_overrun_errors", kind: kindError, bits: 4},
	{file: "local_link_integrity_errors", kind: kindError, bits: 4},
	{file: "VL15_dropped", kind: kindError, bits: 16},
}

// saturated reports a counter stuck at the largest value its field holds.
// A 64-bit counter never gets there; a 32-bit data counter is read the same
// way whatever the HCA, so its 32-bit maximum is the tell.
func (c portCounter) saturated(v uint64) bool {
	bits := c.bits
	if bits == 64 {
		return false
	}
	return v == 1<<bits-1
}
