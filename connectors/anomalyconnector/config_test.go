package anomalyconnector

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/acceltel/acceltel/connectors/anomalyconnector/internal/metadata"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig()
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg.(*Config)
}

func TestConfig(t *testing.T) {
	def := loadConfig(t, "")
	assert.Equal(t, createDefaultConfig(), def)
	assert.ErrorContains(t, confmap.Validate(def), "include or peer_groups")

	full := loadConfig(t, "full")
	require.NoError(t, confmap.Validate(full))
	assert.Equal(t, []string{"hw.gpu.utilization", "nccl.*"}, full.Include)
	assert.Equal(t, 0.6, full.ScoreThreshold)
	assert.Equal(t, 3, full.ClearAfter)
	assert.Equal(t, 64, full.Detectors.RobustWindow)
	assert.Equal(t, "max", full.Detectors.Combine)
	assert.Equal(t, 0.05, full.Detectors.EWMAAlpha, "unset detector keys keep their defaults")
	assert.Equal(t, 3, full.Detectors.KNNDim)
	assert.Zero(t, full.Detectors.Engine().KNNWindow, "knn_window 0 turns KNN off")
	assert.Equal(t, 10, full.Detectors.Engine().RestPeriod)
	assert.Equal(t, "p95", full.Statistic().String())
	require.Len(t, full.PeerGroups, 1)
	pg := full.PeerGroups[0]
	assert.Equal(t, "low", pg.Direction)
	assert.Equal(t, 2, pg.K)
	assert.Equal(t, 5, pg.N, "unset peer keys get the defaults")
	assert.Equal(t, 3.5, pg.Threshold)
	assert.Equal(t, 500, full.MaxSeries)
	assert.Equal(t, 10*time.Minute, full.StateTTL)

	err := confmap.Validate(loadConfig(t, "bad"))
	require.Error(t, err)
	for _, want := range []string{"include: \"*\"", "score_threshold", "clear_after", "peer_groups[0]: metric and member",
		`histogram_statistic: "p0"`, "detectors.knn_k: knn needs"} {
		assert.ErrorContains(t, err, want)
	}
}
