package s3exporter

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/acceltel/acceltel/exporters/s3exporter/internal/metadata"
	"github.com/acceltel/acceltel/internal/s3test"
)

func TestLargeObjectGoesMultipart(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "big")
	cfg := s3Config(srv, "big")
	cfg.Format, cfg.Compression = formatOTLPJSON, compressionNone
	cfg.MultipartPartSize = 5 << 20
	exp := startMetrics(t, cfg)

	// About 190 bytes per point as OTLP/JSON: ~10 MB, three parts.
	md := gpuScrapes("big-node", 8, 100, 10*time.Second, time.Date(2026, 11, 28, 13, 0, 0, 0, time.UTC))
	require.NoError(t, exp.ConsumeMetrics(context.Background(), md))

	objs := srv.ListObjects(t, "big", "")
	require.Len(t, objs, 1)
	require.Greater(t, objs[0].Size, cfg.MultipartPartSize)
	// S3 (and versitygw) give multipart objects an ETag ending in -<parts>.
	parts := (objs[0].Size + cfg.MultipartPartSize - 1) / cfg.MultipartPartSize
	require.True(t, strings.HasSuffix(strings.Trim(objs[0].ETag, `"`), fmt.Sprintf("-%d", parts)), "ETag %s of a %d-byte object", objs[0].ETag, objs[0].Size)
	want, dirs := canonMetrics(md, inNanos)
	checkExactlyOnce(t, want, dirs, map[string][]string{objs[0].Key: decodeMetricsObject(t, objs[0].Key, srv.Get(t, "big", objs[0].Key))})
}

// queuedConfig batches and retries quickly, as the defaults do slowly.
func queuedConfig(srv *s3test.Server, bucket string) *Config {
	cfg := s3Config(srv, bucket)
	cfg.QueueConfig = configoptional.Some(defaultQueueConfig())
	q := cfg.QueueConfig.Get()
	q.Batch.Get().FlushTimeout = 50 * time.Millisecond
	q.Batch.Get().MinSize = 1000
	cfg.RetryConfig = defaultRetryConfig()
	cfg.RetryConfig.InitialInterval = 50 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 200 * time.Millisecond
	return cfg
}

// waitObjects waits until the bucket holds n objects.
func waitObjects(t *testing.T, srv *s3test.Server, bucket string, n int) []s3test.Object {
	t.Helper()
	var objs []s3test.Object
	require.Eventually(t, func() bool {
		objs = srv.ListObjects(t, bucket, "")
		return len(objs) >= n
	}, 15*time.Second, 50*time.Millisecond, "want %d objects", n)
	return objs
}

func readAllMetrics(t *testing.T, srv *s3test.Server, bucket string, objs []s3test.Object) map[string][]string {
	got := map[string][]string{}
	for _, o := range objs {
		got[o.Key] = decodeMetricsObject(t, o.Key, srv.Get(t, bucket, o.Key))
	}
	return got
}

// TestOutageIsRetried: what the queue accepted during an outage is written,
// exactly once, when the endpoint comes back.
func TestOutageIsRetried(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "outage")
	exp, logs := observed(t, queuedConfig(srv, "outage"))
	srv.Stop()

	md := testMetrics()
	require.NoError(t, exp.ConsumeMetrics(context.Background(), md), "accepted into the queue")
	require.Eventually(t, func() bool { return logs.FilterMessageSnippet("Cannot write to").Len() > 0 },
		10*time.Second, 20*time.Millisecond, "the outage is noticed")

	require.NoError(t, srv.Restart())
	objs := waitObjects(t, srv, "outage", 6)
	want, dirs := canonMetrics(md, inMicros)
	checkExactlyOnce(t, want, dirs, readAllMetrics(t, srv, "outage", objs))
}

type storageHost struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h storageHost) GetExtensions() map[component.ID]component.Component { return h.exts }

func startFileStorage(t *testing.T, dir string) (component.ID, extension.Extension) {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	id := component.MustNewID("file_storage")
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	return id, ext
}

// TestPersistentQueueSurvivesRestart: data accepted while S3 is down, by a
// collector that then stops, is written by the next collector that starts
// on the same file_storage directory.
func TestPersistentQueueSurvivesRestart(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "persist")
	storageDir := t.TempDir()
	srv.Stop()

	run := func(consume *pmetric.Metrics) {
		id, ext := startFileStorage(t, storageDir)
		cfg := queuedConfig(srv, "persist")
		cfg.QueueConfig.Get().StorageID = &id
		require.NoError(t, cfg.Validate())
		set := exportertest.NewNopSettings(metadata.Type)
		// The queue's file is named after the exporter's ID, which a
		// collector keeps across restarts (NopSettings makes a random one).
		set.ID = component.NewID(metadata.Type)
		exp, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
		require.NoError(t, err)
		host := storageHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{id: ext}}
		require.NoError(t, exp.Start(context.Background(), host))
		if consume != nil {
			require.NoError(t, exp.ConsumeMetrics(context.Background(), *consume))
			// Let it try and fail against the stopped server first.
			time.Sleep(300 * time.Millisecond)
		} else {
			waitObjects(t, srv, "persist", 6)
		}
		shutdown(t, exp, ext)
	}

	md := testMetrics()
	run(&md)
	require.NoError(t, srv.Restart())
	require.Empty(t, srv.ListObjects(t, "persist", ""), "nothing was written before the restart")
	run(nil)

	want, dirs := canonMetrics(md, inMicros)
	checkExactlyOnce(t, want, dirs, readAllMetrics(t, srv, "persist", srv.ListObjects(t, "persist", "")))
}

func shutdown(t *testing.T, exp exporter.Metrics, ext extension.Extension) {
	t.Helper()
	require.NoError(t, exp.Shutdown(context.Background()))
	require.NoError(t, ext.Shutdown(context.Background()))
}
