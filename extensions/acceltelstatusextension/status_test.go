package acceltelstatusextension_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/acceltel/acceltel/extensions/acceltelstatusextension"
	"github.com/acceltel/acceltel/extensions/acceltelstatusextension/acceltelstatusexporter"
	"github.com/acceltel/acceltel/internal/report/browsertest"
	"github.com/acceltel/acceltel/internal/report/fleetgen"
)

// host is a component.Host with extensions, as the collector's service
// gives the exporter at Start.
type host struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.exts }

// startPipeline starts the extension on a free loopback port and the
// exporter that feeds it, and returns the page's URL and the exporter.
func startPipeline(t *testing.T) (string, func(context.Context, fleetgen.Fleet, int)) {
	t.Helper()
	ef := acceltelstatusextension.NewFactory()
	cfg := ef.CreateDefaultConfig().(*acceltelstatusextension.Config)
	cfg.Endpoint = "127.0.0.1:0"
	require.NoError(t, cfg.Validate())
	ext, err := ef.Create(context.Background(), extensiontest.NewNopSettings(ef.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(context.Background())) })

	xf := acceltelstatusexporter.NewFactory()
	xcfg := xf.CreateDefaultConfig()
	exp, err := xf.CreateMetrics(context.Background(), exportertest.NewNopSettings(xf.Type()), xcfg)
	require.NoError(t, err)
	h := host{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{component.MustNewID("acceltelstatus"): ext}}
	require.NoError(t, exp.Start(context.Background(), h))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	url := "http://" + extAddr(t, ext) + "/"
	feed := func(ctx context.Context, f fleetgen.Fleet, i int) {
		require.NoError(t, exp.ConsumeMetrics(ctx, f.Step(i)))
	}
	return url, feed
}

func extAddr(t *testing.T, ext extension.Extension) string {
	t.Helper()
	a, ok := ext.(interface{ Addr() net.Addr })
	require.True(t, ok)
	return a.Addr().String()
}

// TestLivePageInChromium feeds the last hour of a fleet with planted
// problems through the exporter into the extension, and opens the page it
// serves in headless Chromium, with the same checks as the report file.
func TestLivePageInChromium(t *testing.T) {
	browsertest.Chromium(t)
	url, feed := startPipeline(t)
	now := time.Now()
	f := fleetgen.Fleet{Nodes: 4, GPUsPerNode: 8, Start: now.Add(-time.Hour + 10*time.Second), Interval: 10 * time.Second, Steps: 360}
	for i := 0; i < f.Steps; i++ {
		feed(context.Background(), f, i)
	}
	res := browsertest.Open(t, url)
	require.Equal(t, "acceltel live status", res.Title)
	browsertest.CheckFleetPage(t, res)
}

// TestLivePageEmpty: before any metric arrives, every section says so in
// one line and the page still renders.
func TestLivePageEmpty(t *testing.T) {
	url, _ := startPipeline(t)
	resp, err := http.Get(url)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 8, strings.Count(string(body), `<p class="empty">`)-1, "every section and the summary say they have nothing")
	require.Contains(t, string(body), "Nothing needs attention")
	resp, err = http.Get(url + "nope")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestConfig(t *testing.T) {
	cfg := acceltelstatusextension.NewFactory().CreateDefaultConfig().(*acceltelstatusextension.Config)
	require.NoError(t, cfg.Validate())
	require.Equal(t, "127.0.0.1:8787", cfg.Endpoint, "loopback by default")
	cfg.Endpoint = ":8787"
	cfg.Window = time.Second
	cfg.Columns = 3
	cfg.MaxSeries = 0
	err := cfg.Validate()
	require.Error(t, err)
	for _, want := range []string{`endpoint ":8787" has no host`, "window 1s", "columns 3", "max_series 0"} {
		require.ErrorContains(t, err, want)
	}
	cfg = acceltelstatusextension.NewFactory().CreateDefaultConfig().(*acceltelstatusextension.Config)
	cfg.Endpoint = "localhost"
	require.ErrorContains(t, cfg.Validate(), "not host:port")
}

// TestExporterWithoutExtension: the exporter says what is missing.
func TestExporterWithoutExtension(t *testing.T) {
	xf := acceltelstatusexporter.NewFactory()
	exp, err := xf.CreateMetrics(context.Background(), exportertest.NewNopSettings(xf.Type()), xf.CreateDefaultConfig())
	require.NoError(t, err)
	err = exp.Start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, `feeds extension "acceltelstatus", which is not enabled`)
	require.NoError(t, exp.Shutdown(context.Background()))
}

// TestMemoryBounded: series beyond max_series are dropped, not stored.
func TestMemoryBounded(t *testing.T) {
	ef := acceltelstatusextension.NewFactory()
	cfg := ef.CreateDefaultConfig().(*acceltelstatusextension.Config)
	cfg.Endpoint = "127.0.0.1:0"
	cfg.MaxSeries = 50
	ext, err := ef.Create(context.Background(), extensiontest.NewNopSettings(ef.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, ext.Shutdown(context.Background())) }()
	f := fleetgen.Fleet{Nodes: 2, GPUsPerNode: 8, Start: time.Now().Add(-time.Minute), Interval: 10 * time.Second, Steps: 6}
	sink := ext.(acceltelstatusextension.MetricsSink)
	for i := 0; i < f.Steps; i++ {
		require.NoError(t, sink.ConsumeStatusMetrics(context.Background(), f.Step(i)))
	}
	resp, err := http.Get("http://" + extAddr(t, ext) + "/")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(body), "in 50 series read")
	require.Contains(t, string(body), "points of further series dropped at the series cap")
}
