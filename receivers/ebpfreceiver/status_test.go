package ebpfreceiver

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"github.com/acceltel/acceltel/receivers/ebpfreceiver/internal/metadata"
)

// A loader that fails as an unprivileged one does: the receiver says so once,
// reports OK with acceltel.available=false, and keeps scraping availability 0.
func TestMissingPrivilegeIsReportedOnce(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	cfg := createDefaultConfig().(*Config)
	s := newScraper(cfg, set, func(*Config) (*probe, error) {
		return nil, fmt.Errorf("create BPF maps: %w", explain(unix.EPERM))
	})
	host := &statusHost{}
	require.NoError(t, s.start(context.Background(), host))
	for range 3 {
		md, err := s.scrape(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, md.MetricCount())
		m := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0)
		assert.Equal(t, "acceltel.receiver.available", m.Name())
		assert.Equal(t, int64(0), m.Gauge().DataPoints().At(0).IntValue())
	}
	require.NoError(t, s.shutdown(context.Background()))

	assert.Equal(t, 1, logs.FilterLevelExact(zapcore.WarnLevel).Len())
	require.Len(t, host.events, 1)
	ev := host.events[0]
	assert.Equal(t, componentstatus.StatusOK, ev.Status())
	avail, ok := ev.Attributes().Get("acceltel.available")
	require.True(t, ok)
	assert.False(t, avail.Bool())
	reason, _ := ev.Attributes().Get("acceltel.reason")
	assert.Contains(t, reason.Str(), "CAP_BPF")
}
