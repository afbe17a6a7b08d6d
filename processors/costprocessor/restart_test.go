package costprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
)

// startFileStorage starts a real file_storage extension on dir.
func startFileStorage(t *testing.T, dir string) (extHost, extension.Extension) {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	cfg.Compaction.Directory = dir
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	return extHost{ext: map[component.ID]component.Component{component.NewID(f.Type()): ext}}, ext
}

// A restart in the middle of a run: cumulative costs continue from where
// they were, with the start times they had, and the time the collector was
// down is billed to nobody when it exceeds max_gap.
func TestRestartContinuesCumulativeCosts(t *testing.T) {
	dir := t.TempDir()
	cfg := p5Config()
	cfg.MaxGap = 90 * time.Minute
	id := component.NewID(component.MustNewType("file_storage"))
	cfg.Storage = &id

	host, ext := startFileStorage(t, dir)
	h := newHarness(t, cfg, host)
	h.consume(p5Batch(0))
	out := h.consume(p5Batch(time.Hour))
	before := points(out, "acceltel.cost.allocated")
	require.Len(t, before, 4)
	h.stop()
	require.NoError(t, ext.Shutdown(context.Background()))

	host, ext = startFileStorage(t, dir)
	defer func() { require.NoError(t, ext.Shutdown(context.Background())) }()
	h = newHarness(t, cfg, host)
	defer h.stop()
	assert.Empty(t, h.logs.FilterMessageSnippet("in memory only").All())
	// Back one hour later: within max_gap, so billed as usual.
	out = h.consume(p5Batch(2 * time.Hour))
	after := points(out, "acceltel.cost.allocated")
	require.Len(t, after, 4)
	for _, p := range after {
		assert.InDelta(t, 2*12.29, p.value, eps, "continues from the stored value")
		assert.Equal(t, ts(0), p.start, "keeps its start time")
	}
	// Down for longer than max_gap: nothing is billed for the gap.
	out = h.consume(p5Batch(5 * time.Hour))
	for _, p := range points(out, "acceltel.cost.allocated") {
		t.Errorf("gap billed: %+v", p)
	}
	out = h.consume(p5Batch(6 * time.Hour))
	for _, p := range points(out, "acceltel.cost.allocated") {
		assert.InDelta(t, 3*12.29, p.value, eps)
	}
}

func TestWithoutStorageSaysSo(t *testing.T) {
	h := newHarness(t, p5Config(), nil)
	defer h.stop()
	assert.Len(t, h.logs.FilterMessageSnippet("in memory only").All(), 1)
}

func TestMissingStorageExtension(t *testing.T) {
	cfg := p5Config()
	id := component.MustNewIDWithName("file_storage", "nope")
	cfg.Storage = &id
	p, err := NewFactory().CreateMetrics(context.Background(), processortestSettings(), cfg, nil)
	require.NoError(t, err)
	err = p.Start(context.Background(), extHost{})
	require.ErrorContains(t, err, "file_storage/nope is not configured")
}
