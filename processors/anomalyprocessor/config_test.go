package anomalyprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/acceltel/acceltel/internal/anomaly"
	"github.com/acceltel/acceltel/internal/anomalyconfig"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.MustNewIDWithName("anomaly", name).String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestConfigDefaults(t *testing.T) {
	cfg := loadConfig(t, "")
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, []string{"hw.gpu.utilization"}, cfg.Include)
	assert.Equal(t, 0.5, cfg.ScoreThreshold)
	assert.Equal(t, anomalyconfig.DefaultDetectors(), cfg.Detectors)
	assert.Equal(t, anomaly.DefaultConfig(), cfg.Detectors.Engine(), "every engine setting defaults to the engine's default")
	assert.Equal(t, 64, cfg.Detectors.KNNWindow)
	assert.Equal(t, 50, cfg.Detectors.RestPeriod)
	assert.Equal(t, "mean", cfg.HistogramStatistic)
	assert.Equal(t, "evict", cfg.MaxSeriesPolicy)
	assert.True(t, cfg.Metrics.AcceltelAnomalyScore.Enabled)
}

func TestConfigFull(t *testing.T) {
	cfg := loadConfig(t, "full")
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, 10*time.Minute, cfg.StateTTL)
	assert.Equal(t, map[string]string{"hw.gpu.task": "general"}, cfg.MatchAttributes)
	assert.Equal(t, 64, cfg.Detectors.RobustWindow)
	assert.False(t, cfg.Detectors.Seasonal)
	assert.Equal(t, 0.001, cfg.Detectors.SPOTQ)
	assert.Equal(t, "p99.9", cfg.Statistic().String())
	assert.Equal(t, "refuse", cfg.MaxSeriesPolicy)
	e := cfg.Detectors.Engine()
	assert.Equal(t, [4]float64{32, 4, 2, 1.5}, [4]float64{float64(e.KNNWindow), float64(e.KNNDim), float64(e.KNNK), e.KNNWeight})
	assert.Zero(t, e.RestPeriod, "rest_period 0 turns the rest period off")
	assert.Equal(t, 300, e.NoveltyCalib)
	assert.Equal(t, 0.01, e.NoveltyP)
	assert.Equal(t, 0.1, e.EWMAAlpha)
	assert.False(t, cfg.Metrics.AcceltelAnomalyScore.Enabled)
	require.Len(t, cfg.PeerGroups, 1)
	pg := cfg.PeerGroups[0]
	assert.Equal(t, []string{"host.name", "hw.id"}, pg.Member)
	assert.Equal(t, "low", pg.Direction)
	assert.Equal(t, 2, pg.K)
	assert.Equal(t, 3.5, pg.Threshold, "unset peer fields take the defaults")
	assert.Equal(t, 4, pg.MinMembers)
}

func TestConfigErrors(t *testing.T) {
	err := confmap.Validate(loadConfig(t, "bad"))
	require.Error(t, err)
	for _, want := range []string{
		`include: "" must be a name or a prefix`,
		`include: "a*b*" must be a name or a prefix`,
		`detectors.combine: "median" is not mean or max`,
		// The engine's own checks, under the keys that cause them.
		"detectors.robust_window: robust window must be 0 (off) or >= 3",
		"detectors.spot_q: spot q must be in (0,1)",
		"detectors.knn_window: knn needs window 0 (off) or 3*dim",
		"detectors.rest_period: rest period must be in [0,4096]",
		"detectors.novelty_p: ",
		`histogram_statistic: "median" is not mean or a percentile`,
		`max_series_policy: "lru" is not evict or refuse`,
		"score_threshold must be in (0,1)",
		"peer_groups[0]: metric and member are required",
		`peer_groups[0]: direction "sideways"`,
		"peer hysteresis needs 1 <= k <= n <= 64",
		"max_series must be >= 1",
		"state_ttl must be > 0",
	} {
		assert.Contains(t, err.Error(), want)
	}
	err = confmap.Validate(loadConfig(t, "empty"))
	require.ErrorContains(t, err, "include or peer_groups must name at least one metric")
	// No single key is to blame: each key whose default turns a detector on
	// is named (which ones depends on the engine's defaults).
	err = confmap.Validate(loadConfig(t, "nodetectors"))
	require.Error(t, err)
	require.Regexp(t, `^detectors\.ewma_alpha, (seasonal, )?knn_window: no detector enabled$`, err.Error())
}
