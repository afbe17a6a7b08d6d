#!/usr/bin/env bash
# Builds testdata/host: a sysfs tree shaped like a real one (Linux 6.x,
# mlx5 and mlx4 drivers), with the links kernel sysfs has, relative so that
# they resolve under any root_path. Run from this directory; the tree is committed.
set -euo pipefail
root=host/sys
rm -rf host
w() { mkdir -p "$(dirname "$1")"; printf '%s\n' "$2" > "$1"; }

pcidev() { # path vendor class numa
	w "$root/devices/$1/vendor" "$2"
	w "$root/devices/$1/class" "$3"
	w "$root/devices/$1/numa_node" "$4"
	mkdir -p "$root/bus/pci/devices"
	ln -s "../../../devices/$1" "$root/bus/pci/devices/$(basename "$1")"
}

# Socket 0: mlx5_0 and two GPUs behind one PCIe switch, a third GPU on another root port.
pcidev pci0000:15/0000:15:01.0/0000:16:00.0/0000:17:00.0 0x15b3 0x020700 0
pcidev pci0000:15/0000:15:01.0/0000:16:00.0/0000:18:00.0 0x10de 0x030200 0
pcidev pci0000:15/0000:15:01.0/0000:16:00.0/0000:19:00.0 0x10de 0x030200 0
pcidev pci0000:15/0000:15:03.0/0000:2a:00.0 0x10de 0x030200 0
# An NVSwitch (NVIDIA, but a bridge) and an NVMe drive: not GPUs.
pcidev pci0000:15/0000:15:05.0/0000:3c:00.0 0x10de 0x068000 0
pcidev pci0000:15/0000:15:07.0/0000:4d:00.0 0x144d 0x010802 0
# Socket 1: mlx5_1 (RoCE) shares a host bridge with GPU 3; mlx4_0 only its NUMA node.
pcidev pci0000:97/0000:97:01.0/0000:98:00.0/0000:99:00.0 0x15b3 0x020000 1
pcidev pci0000:97/0000:97:02.0/0000:9b:00.0 0x10de 0x030200 1
pcidev pci0000:c0/0000:c0:01.0/0000:c1:00.0 0x15b3 0x028000 1

hca() { # name pcipath hca_type board_id fw_ver node_guid
	local d=$root/class/infiniband/$1
	mkdir -p "$d"
	ln -s "../../../devices/$2" "$d/device"
	w "$d/hca_type" "$3"; w "$d/board_id" "$4"; w "$d/fw_ver" "$5"; w "$d/node_guid" "$6"
}

port() { # hca port state phys_state rate link_layer
	local d=$root/class/infiniband/$1/ports/$2
	w "$d/state" "$3"; w "$d/phys_state" "$4"; w "$d/rate" "$5"; w "$d/link_layer" "$6"
}

counters() { # hca port name=value...
	local d=$root/class/infiniband/$1/ports/$2/counters
	shift 2
	for kv in "$@"; do w "$d/${kv%%=*}" "${kv#*=}"; done
}

hw_counters() {
	local d=$root/class/infiniband/$1/ports/$2/hw_counters
	shift 2
	for kv in "$@"; do w "$d/${kv%%=*}" "${kv#*=}"; done
}

errors_zero="symbol_error=0 link_error_recovery=0 link_downed=1 port_rcv_errors=0 port_rcv_remote_physical_errors=0
	port_rcv_switch_relay_errors=0 port_rcv_constraint_errors=0 port_xmit_discards=3 port_xmit_constraint_errors=0
	excessive_buffer_overrun_errors=0 local_link_integrity_errors=0 VL15_dropped=0"

# ConnectX-6 on a 200 Gb/s HDR InfiniBand link, extended (64-bit) counters.
hca mlx5_0 pci0000:15/0000:15:01.0/0000:16:00.0/0000:17:00.0 MT4123 MT_0000000223 20.39.1002 b8ce:f603:00a1:b2c4
port mlx5_0 1 "4: ACTIVE" "5: LinkUp" "200 Gb/sec (4X HDR)" InfiniBand
counters mlx5_0 1 port_xmit_data=98765432100 port_rcv_data=87654321000 port_xmit_packets=1234567890 \
	port_rcv_packets=1134567890 unicast_xmit_packets=1234000000 unicast_rcv_packets=1134000000 \
	multicast_xmit_packets=567890 multicast_rcv_packets=567890 port_xmit_wait=4200000 $errors_zero
hw_counters mlx5_0 1 duplicate_request=0 implied_nak_seq_err=2 lifespan=10 local_ack_timeout_err=1 \
	np_cnp_sent=0 np_ecn_marked_roce_packets=0 out_of_buffer=17 out_of_sequence=5 packet_seq_err=2 \
	req_cqe_error=0 req_cqe_flush_error=0 req_remote_access_errors=0 req_remote_invalid_request=0 \
	resp_cqe_error=0 resp_cqe_flush_error=0 resp_local_length_error=0 resp_remote_access_errors=0 \
	rnr_nak_retry_err=0 roce_adp_retrans=0 roce_adp_retrans_to=0 roce_slow_restart=0 roce_slow_restart_cnps=0 \
	roce_slow_restart_trans=0 rp_cnp_handled=0 rp_cnp_ignored=0 rx_atomic_requests=0 rx_icrc_encapsulated=0 \
	rx_read_requests=123 rx_write_requests=4567

# ConnectX-5 port running RoCE v2 on 100 GbE.
hca mlx5_1 pci0000:97/0000:97:01.0/0000:98:00.0/0000:99:00.0 MT4119 MT_0000000008 16.35.2000 0c42:a103:0065:7e10
port mlx5_1 1 "4: ACTIVE" "5: LinkUp" "100 Gb/sec (4X EDR)" Ethernet
counters mlx5_1 1 port_xmit_data=1000000000 port_rcv_data=2000000000 port_xmit_packets=3000000 \
	port_rcv_packets=4000000 unicast_xmit_packets=3000000 unicast_rcv_packets=4000000 \
	multicast_xmit_packets=0 multicast_rcv_packets=0 port_xmit_wait=0 $errors_zero
hw_counters mlx5_1 1 lifespan=10 np_cnp_sent=812 np_ecn_marked_roce_packets=1024 rp_cnp_handled=790 \
	rp_cnp_ignored=0 out_of_buffer=3 out_of_sequence=9 packet_seq_err=4 local_ack_timeout_err=2 \
	implied_nak_seq_err=1 roce_adp_retrans=6 roce_slow_restart=0

# ConnectX-3 (mlx4) on FDR: 32-bit counters only, no hw_counters. Its
# port_xmit_data and symbol_error sit at their maximum; port_rcv_packets
# cannot be read (a directory where a file should be) and port_rcv_data is corrupt.
hca mlx4_0 pci0000:c0/0000:c0:01.0/0000:c1:00.0 MT4099 MT_1090120019 2.42.5000 0002:c903:00f1:a2b0
port mlx4_0 1 "4: ACTIVE" "5: LinkUp" "56 Gb/sec (4X FDR)" InfiniBand
counters mlx4_0 1 port_xmit_data=4294967295 port_rcv_data=N/A port_xmit_packets=3141592653 \
	port_xmit_wait=1000 symbol_error=65535 link_error_recovery=255 link_downed=0 port_rcv_errors=12 \
	port_rcv_remote_physical_errors=0 port_rcv_switch_relay_errors=0 port_xmit_discards=0 \
	excessive_buffer_overrun_errors=15 local_link_integrity_errors=0 VL15_dropped=0
mkdir -p "$root/class/infiniband/mlx4_0/ports/1/counters/port_rcv_packets"
w "$root/class/infiniband/mlx4_0/ports/1/counters/port_rcv_packets/README" "A directory where the counter should be: reading it fails like an unreadable sysfs file."
port mlx4_0 2 "1: DOWN" "3: Disabled" "10 Gb/sec (4X SDR)" InfiniBand
counters mlx4_0 2 port_xmit_data=0 port_rcv_data=0 port_xmit_packets=0 port_rcv_packets=0 port_xmit_wait=0 $errors_zero
