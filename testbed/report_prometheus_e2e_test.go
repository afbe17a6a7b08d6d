package testbed

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/acceltel/acceltel/internal/report/fleetgen"
)

// TestReportFromPrometheus is `acceltel report --prometheus`: local.yaml
// exposes a simulated 16-GPU fleet on its Prometheus exporter, a real
// Prometheus scrapes it, and the report built from Prometheus' query API
// shows the fleet and its events (the planted XID error), and summarises what needs attention. (The NCCL and latency
// distributions need the Parquet input; the page says so.)
func TestReportFromPrometheus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := StartCollector(t, configPath(t, "local.yaml"))
	prom := StartPrometheus(t, c.Prometheus)

	conn, err := grpc.NewClient(c.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	client := pmetricotlp.NewGRPCClient(conn)
	// One step a second in real time: the exporter shows the latest value
	// and Prometheus stamps it with its scrape time.
	f := fleetgen.Fleet{Nodes: 2, GPUsPerNode: 8, Start: time.Now(), Interval: time.Second, Steps: 20}
	// The last step is held for 5 s more, so the planted XID error (a
	// counter rising in the last 20% of the steps) is not at the very end of
	// the report's range, where its last column may be incomplete.
	for i := 0; i < f.Steps+5; i++ {
		_, err := client.Export(ctx, pmetricotlp.NewExportRequestFromMetrics(f.Step(min(i, f.Steps-1))))
		require.NoError(t, err, "step %d", i)
		time.Sleep(time.Second)
	}
	// Prometheus scrapes once a second: wait until it holds the last steps
	// too, where the planted XID error is (the last 20% of the steps).
	require.NoError(t, Eventually(ctx, time.Second, func() error {
		for _, q := range []string{`hw_gpu_utilization_ratio`, `nvidia_gpu_xid_errors_total > 0`} {
			got, err := prom.Query(ctx, q)
			if err != nil {
				return err
			}
			if len(got) == 0 {
				return fmt.Errorf("prometheus has no %s yet", q)
			}
		}
		return nil
	}))

	out := filepath.Join(t.TempDir(), "report.html")
	cli := filepath.Join(filepath.Dir(CollectorBinary(t)), "acceltel")
	cmd := exec.CommandContext(ctx, cli, "report", "--prometheus", "http://"+prom.Addr,
		"--from", "now-5m", "--to", "now", "--output", out)
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", msg)
	html, err := os.ReadFile(out)
	require.NoError(t, err)
	page := string(html)

	section := func(id string) string {
		m := regexp.MustCompile(`(?s)<section id="` + id + `">.*?</section>`).FindString(page)
		require.NotEmpty(t, m, "section %s", id)
		return m
	}
	// (The planted anomaly lasts one step, a second: too short to rely on
	// a 1 s scrape catching it; the Parquet tests check that section.)
	for _, id := range []string{"fleet", "events"} {
		assert.NotContains(t, section(id), `<p class="empty">`, "section %s has data from Prometheus", id)
	}
	assert.Contains(t, section("events"), fmt.Sprintf("XID %d", fleetgen.XIDCode), "the planted XID error, from the counter's rise")
	assert.Contains(t, section("fleet"), fleetgen.Host(0))
	assert.Contains(t, section("fleet"), fleetgen.Host(1))
	assert.NotContains(t, page, "Nothing needs attention", "the planted problems are summarised")
	assert.True(t, strings.Contains(page, "source: Prometheus") || strings.Contains(page, prom.Addr), "the page names its source")
}
