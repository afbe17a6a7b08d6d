package nvmlreceiver

import (
	"context"
	"reflect"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/stretchr/testify/require"

	"github.com/acceltel/acceltel/receivers/nvmlreceiver/internal/metadata"
)

// BenchmarkScrape8xH100 is one full scrape of eight H100s with every metric
// on, per-link NVLink series included. The mock's own cost (it records
// every call) is included, so the receiver's share is lower than this.
func BenchmarkScrape8xH100(b *testing.B) {
	benchScrape(b, func(c *Config) { enableAll(&c.Metrics) })
}

// BenchmarkScrape8xH100Default is the same with the default metrics.
func BenchmarkScrape8xH100Default(b *testing.B) {
	benchScrape(b)
}

func benchScrape(b *testing.B, mutate ...func(*Config)) {
	n := h100Node()
	s, _ := newTestScraper(b, n.srv, mutate...)
	ctx := context.Background()
	_, err := s.scrape(ctx)
	require.NoError(b, err)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.scrape(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// enableAll turns every metric on, including any a later change makes
// optional.
func enableAll(mc *metadata.MetricsConfig) {
	v := reflect.ValueOf(mc).Elem()
	for i := range v.NumField() {
		v.Field(i).FieldByName("Enabled").SetBool(true)
	}
}

// BenchmarkBaselineMockCalls8xH100 makes the NVML calls of a default scrape
// on the mock and builds nothing: the mock's share, to subtract from
// BenchmarkScrape8xH100Default.
func BenchmarkBaselineMockCalls8xH100(b *testing.B) {
	n := h100Node()
	s, _ := newTestScraper(b, n.srv)
	for _, g := range s.gpus {
		st := g.gpm
		st.req.NumMetrics = uint32(len(st.specs))
		for i, sp := range st.specs {
			st.req.Metrics[i].MetricId = uint32(sp.id)
		}
		g.dev.GpmSampleGet(st.prev)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, g := range s.gpus {
			d := g.dev
			st := g.gpm
			d.GpmSampleGet(st.cur)
			st.req.Sample1, st.req.Sample2 = st.prev, st.cur
			n.srv.GpmMetricsGet(&st.req)
			st.prev, st.cur = st.cur, st.prev
			d.GetUtilizationRates()
			d.GetEncoderUtilization()
			d.GetDecoderUtilization()
			d.GetMemoryInfo_v2()
			d.GetBAR1MemoryInfo()
			d.GetPowerUsage()
			d.GetEnforcedPowerLimit()
			d.GetTotalEnergyConsumption()
			d.GetTemperature(nvml.TEMPERATURE_GPU)
			for _, c := range clockTypes {
				d.GetClockInfo(c)
			}
			d.GetCurrentClocksEventReasons()
			d.GetPcieThroughput(nvml.PCIE_UTIL_TX_BYTES)
			d.GetPcieThroughput(nvml.PCIE_UTIL_RX_BYTES)
			d.GetPcieReplayCounter()
			d.GetCurrPcieLinkGeneration()
			d.GetCurrPcieLinkWidth()
			for range 4 {
				d.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_CORRECTED, nvml.VOLATILE_ECC)
			}
			d.GetRemappedRows()
			d.GetFieldValues(g.fields.values)
		}
	}
}
