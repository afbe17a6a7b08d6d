package fleet

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.uber.org/zap"

	"github.com/acceltel/acceltel/processors/anomalyprocessor"
	"github.com/acceltel/acceltel/processors/costprocessor"
)

// gatewayChain builds the named processors (of anomaly, cost) as the
// fleet's full gateway configures them (gateway.yaml resolved with the
// overlay), each feeding the next, the last feeding next.
func gatewayChain(tb testing.TB, next consumer.Metrics, names ...string) consumer.Metrics {
	tb.Helper()
	root, err := repoRoot()
	if err != nil {
		tb.Fatal(err)
	}
	resolver, err := confmap.NewResolver(confmap.ResolverSettings{
		URIs: []string{
			"file:" + filepath.Join(root, "distributions", "otelcol-acceltel", "gateway.yaml"),
			"yaml:" + fmt.Sprintf(overlay, "127.0.0.1:1", "memory_limiter, anomaly, cost", "otlp_grpc/sink"),
		},
		ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory(), envprovider.NewFactory(), yamlprovider.NewFactory()},
		DefaultScheme:     "env",
		ProviderSettings:  confmap.ProviderSettings{Logger: zap.NewNop()},
	})
	if err != nil {
		tb.Fatal(err)
	}
	conf, err := resolver.Resolve(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	factories := map[string]processor.Factory{"anomaly": anomalyprocessor.NewFactory(), "cost": costprocessor.NewFactory()}
	for i := len(names) - 1; i >= 0; i-- {
		f := factories[names[i]]
		if f == nil {
			tb.Fatalf("no processor %q here", names[i])
		}
		sub, err := conf.Sub("processors::" + names[i])
		if err != nil {
			tb.Fatal(err)
		}
		cfg := f.CreateDefaultConfig()
		if err := sub.Unmarshal(cfg); err != nil {
			tb.Fatal(err)
		}
		if err := confmap.Validate(cfg); err != nil {
			tb.Fatal(err)
		}
		p, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(f.Type()), cfg, next)
		if err != nil {
			tb.Fatal(err)
		}
		if err := p.Start(context.Background(), nil); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = p.Shutdown(context.Background()) })
		next = p
	}
	return next
}

// benchNodes is the fleet of the benchmarks: as many nodes as the full
// measurement's default, each scraped in turn.
const benchNodes = 128

// BenchmarkGateway splits what the full gateway does per node record into
// its parts, on the same scrapes the fleet produces, after every series
// has been seen once (its state created), and reports ns per data point:
//
//	go test -run '^$' -bench Gateway -cpuprofile cpu.out ./testbed/fleet/
//
// decode is the kafka receiver's unmarshalling of a record (what the
// baseline does besides exporting); anomaly and cost are each processor
// alone; chain is decode, anomaly and cost in a row.
func BenchmarkGateway(b *testing.B) {
	for _, stage := range []string{"decode", "anomaly", "cost", "chain"} {
		b.Run(stage, func(b *testing.B) {
			start := time.Now().Add(-time.Hour)
			nodes := make([]*Node, benchNodes)
			for i := range nodes {
				nodes[i] = NewNode(i, start)
			}
			var sink consumertest.MetricsSink
			var first consumer.Metrics
			switch stage {
			case "anomaly", "cost": // alone, its output dropped
				first = gatewayChain(b, consumertest.NewNop(), stage)
			default:
				first = gatewayChain(b, &sink, "anomaly", "cost")
			}
			var m pmetric.ProtoMarshaler
			var u pmetric.ProtoUnmarshaler
			ts := start
			record := func(i int) []byte {
				ts = ts.Add(10 * time.Second / benchNodes)
				raw, err := m.MarshalMetrics(nodes[i%benchNodes].Scrape(ts))
				if err != nil {
					b.Fatal(err)
				}
				return raw
			}
			ctx := context.Background()
			for i := range benchNodes { // every series seen once
				md, _ := u.UnmarshalMetrics(record(i))
				if err := first.ConsumeMetrics(ctx, md); err != nil {
					b.Fatal(err)
				}
			}
			sink.Reset()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				raw := record(i)
				var md pmetric.Metrics
				var err error
				if stage != "decode" && stage != "chain" {
					md, err = u.UnmarshalMetrics(raw)
				}
				b.StartTimer()
				if stage == "decode" || stage == "chain" {
					md, err = u.UnmarshalMetrics(raw)
				}
				if err != nil {
					b.Fatal(err)
				}
				if stage != "decode" {
					if err := first.ConsumeMetrics(ctx, md); err != nil {
						b.Fatal(err)
					}
				}
				if i%benchNodes == 0 {
					b.StopTimer()
					sink.Reset() // keep the chain's output from piling up
					b.StartTimer()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(nodes[0].Points), "ns/point")
		})
	}
}

// BenchmarkGatewayState reports the heap the full chain holds for the
// fleet's series after three scrapes of every node: the gateway's memory
// beyond the baseline, in bytes per series the anomaly processor watches
// (the cost processor's per-GPU state included).
func BenchmarkGatewayState(b *testing.B) {
	start := time.Now().Add(-time.Hour)
	nodes := make([]*Node, benchNodes)
	for i := range nodes {
		nodes[i] = NewNode(i, start)
	}
	var m pmetric.ProtoMarshaler
	var u pmetric.ProtoUnmarshaler
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	// One fleet's state per call, whatever b.N: the figure is a size, not
	// a time, and each call's processors are shut down when it ends.
	var held uint64
	{
		before := heap()
		chain := gatewayChain(b, consumertest.NewNop(), "anomaly", "cost")
		for r := range 3 {
			for i, n := range nodes {
				raw, err := m.MarshalMetrics(n.Scrape(start.Add(time.Duration(r*benchNodes+i+1) * 10 * time.Second / benchNodes)))
				if err != nil {
					b.Fatal(err)
				}
				md, err := u.UnmarshalMetrics(raw)
				if err != nil {
					b.Fatal(err)
				}
				if err := chain.ConsumeMetrics(context.Background(), md); err != nil {
					b.Fatal(err)
				}
			}
		}
		held = heap() - before
		runtime.KeepAlive(chain)
	}
	root, err := repoRoot()
	if err != nil {
		b.Fatal(err)
	}
	include, err := gatewayInclude(root)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(held)/float64(watched(nodes[0], include)*benchNodes), "B/watched-series")
	b.ReportMetric(float64(held)/(1<<20), "MiB")
}
