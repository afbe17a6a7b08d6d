package testbed

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInfiniBandFixture runs local.yaml with the infiniband receiver reading
// the receiver's fixture sysfs tree, and reads its series back from the
// Prometheus exporter: names, units and labels as a Grafana user sees them.
func TestInfiniBandFixture(t *testing.T) {
	root := RepoRoot(t)
	fixture := filepath.Join(root, "receivers", "infinibandreceiver", "testdata", "host")
	col := StartCollector(t, filepath.Join(root, "distributions", "otelcol-acceltel", "local.yaml"),
		"--set=receivers::infiniband::root_path="+fixture,
		"--set=receivers::infiniband::collection_interval=1s",
		"--set=processors::batch::timeout=200ms")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	want := map[string]float64{
		"infiniband_port_io_bytes_total":        395061728400, // mlx5_0 port_xmit_data 98765432100 words × 4
		"infiniband_port_rate_bytes_per_second": 25e9,         // 200 Gb/s HDR
	}
	require.NoError(t, Eventually(ctx, 250*time.Millisecond, func() error {
		fams, err := scrape(ctx, col.Prometheus)
		if err != nil {
			return err
		}
		for name, value := range want {
			found := false
			for _, m := range fams[name].GetMetric() {
				if label(m, "infiniband_device") != "mlx5_0" || label(m, "network_io_direction") == "receive" {
					continue
				}
				got := m.GetCounter().GetValue() + m.GetGauge().GetValue()
				if got != value {
					return fmt.Errorf("%s = %v, want %v", name, got, value)
				}
				assert.Equal(t, "0000:17:00.0", label(m, "infiniband_pci_bus_id"))
				found = true
			}
			if !found {
				return fmt.Errorf("%s{infiniband_device=\"mlx5_0\"} not exported yet", name)
			}
		}
		for _, m := range fams["acceltel_receiver_available"].GetMetric() {
			if label(m, "acceltel_receiver") == "infiniband" {
				if m.GetGauge().GetValue() != 1 {
					return fmt.Errorf("infiniband reports unavailable")
				}
				return nil
			}
		}
		return fmt.Errorf("no acceltel_receiver_available{acceltel_receiver=\"infiniband\"}")
	}))
	require.NoError(t, col.Stop(15*time.Second))
}
