package costprocessor

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// BenchmarkConsume feeds scrapes of an 8-GPU node (utilization, energy,
// tensor activity and two processes per GPU, half the GPUs held by pods)
// and reports the cost per incoming data point.
func BenchmarkConsume(b *testing.B) {
	cfg := p5Config()
	cfg.Prices[0].ElectricityPerKWh = 0.1
	proc, err := NewFactory().CreateMetrics(context.Background(), processortestSettings(), cfg, consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	if err := proc.Start(context.Background(), extHost{}); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = proc.Shutdown(context.Background()) }()
	batch := func(i int) pmetric.Metrics {
		at := time.Duration(i) * 10 * time.Second
		md := pmetric.NewMetrics()
		for g := range 8 {
			a := map[string]string{"hw.id": fmt.Sprintf("GPU-%d", g), "hw.model": "NVIDIA H100 80GB HBM3", "host.name": "node-1", "host.type": "p5.48xlarge"}
			if g < 4 {
				a["k8s.pod.uid"], a["k8s.pod.name"], a["k8s.namespace.name"] = fmt.Sprintf("uid-%d", g), "train", "ml"
			}
			ms := gpuRes(md, a)
			gauge(ms, "hw.gpu.utilization", at, 0.9, nil)
			gauge(ms, "nvidia.gpu.tensor.activity", at, 0.4, nil)
			counter(ms, "hw.energy", 0, at, float64(i)*7000)
			gauge(ms, "nvidia.gpu.process.sm.utilization", at, 0.5, map[string]string{"k8s.pod.uid": a["k8s.pod.uid"], "process.pid": "1"})
			gauge(ms, "nvidia.gpu.process.sm.utilization", at, 0.3, map[string]string{"k8s.pod.uid": a["k8s.pod.uid"], "process.pid": "2"})
		}
		return md
	}
	const pointsPerBatch = 8 * 5
	// Batches are built outside the timer; the processor mutates them.
	batches := make([]pmetric.Metrics, b.N+1)
	for i := range batches {
		batches[i] = batch(i)
	}
	if err := proc.ConsumeMetrics(context.Background(), batches[0]); err != nil {
		b.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		if err := proc.ConsumeMetrics(context.Background(), batches[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	n := float64(b.N * pointsPerBatch)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/point")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/point")
}
