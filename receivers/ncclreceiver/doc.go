// Package ncclreceiver receives one record per NCCL operation from the
// acceltel NCCL profiler plugin (native/nccl-profiler) over a Unix datagram
// socket and turns them into nccl.* metrics.
//
//go:generate go tool -modfile=../../internal/tools/go.mod mdatagen metadata.yaml
package ncclreceiver // import "github.com/acceltel/acceltel/receivers/ncclreceiver"
