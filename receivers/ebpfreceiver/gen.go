package ebpfreceiver // import "github.com/acceltel/acceltel/receivers/ebpfreceiver"

// The BPF object and its Go bindings are committed; regenerating needs clang
// and libbpf-dev (see native/ebpf/README.md). bpfel covers amd64 and arm64.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go@v0.22.0 -cc clang -cflags "-O2 -g -Wall -Werror" -target bpfel -type hist_key -type hist -type sched_cg -type bio_key -type bio_hist sched ../../native/ebpf/sched.bpf.c -- -I../../native/ebpf -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu
