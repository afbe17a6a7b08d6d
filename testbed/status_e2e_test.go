package testbed

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/acceltel/acceltel/internal/report/browsertest"
	"github.com/acceltel/acceltel/internal/report/fleetgen"
)

// TestStatusPageLive runs local.yaml as `make run` does, sends it an hour of
// a simulated 32-GPU fleet with planted problems over OTLP, and opens the
// live status page (the acceltelstatus extension) in headless Chromium:
// every chart rendered, no console errors, the planted problems summarised.
func TestStatusPageLive(t *testing.T) {
	browsertest.Chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := StartCollector(t, configPath(t, "local.yaml"))

	conn, err := grpc.NewClient(c.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := pmetricotlp.NewGRPCClient(conn)
	now := time.Now()
	f := fleetgen.Fleet{Nodes: 4, GPUsPerNode: 8, Start: now.Add(-time.Hour + 10*time.Second), Interval: 10 * time.Second, Steps: 360}
	for i := 0; i < f.Steps; i++ {
		_, err := client.Export(ctx, pmetricotlp.NewExportRequestFromMetrics(f.Step(i)))
		require.NoError(t, err, "step %d", i)
	}
	// The batch processor flushes within a second; the page reads what reached it.
	time.Sleep(2 * time.Second)
	res := browsertest.Open(t, "http://"+c.Status+"/")
	require.Equal(t, "acceltel live status", res.Title)
	browsertest.CheckFleetPage(t, res)
}
