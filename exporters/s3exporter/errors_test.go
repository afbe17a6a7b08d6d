package s3exporter

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/acceltel/acceltel/exporters/s3exporter/internal/metadata"
	"github.com/acceltel/acceltel/exporters/s3exporter/internal/metadatatest"
	"github.com/acceltel/acceltel/internal/s3test"
)

// observed starts a metrics exporter whose logs the test can read.
func observed(t *testing.T, cfg *Config) (exporter.Metrics, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	set := exportertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	require.NoError(t, cfg.Validate())
	exp, err := NewFactory().CreateMetrics(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	return exp, logs
}

// TestOperatorErrors covers what an operator fixes while the collector runs:
// each failure names its reason, the bucket and the endpoint, is retryable,
// is logged once however often it repeats, and the same exporter writes
// again once it is fixed.
func TestOperatorErrors(t *testing.T) {
	srv := s3test.Start(t)
	cases := []struct {
		name   string
		reason string
		break_ func(t *testing.T, cfg *Config)
		fix    func(t *testing.T, cfg *Config)
	}{
		{
			name:   "no such bucket",
			reason: reasonNoSuchBucket,
			break_: func(*testing.T, *Config) {},
			fix:    func(t *testing.T, cfg *Config) { srv.CreateBucket(t, cfg.Bucket) },
		},
		{
			name:   "wrong secret",
			reason: reasonInvalidCredentials,
			break_: func(t *testing.T, cfg *Config) {
				srv.CreateBucket(t, cfg.Bucket)
				cfg.SecretAccessKey = "not-the-secret"
			},
		},
		{
			name:   "unknown access key",
			reason: reasonInvalidCredentials,
			break_: func(t *testing.T, cfg *Config) {
				srv.CreateBucket(t, cfg.Bucket)
				cfg.AccessKeyID = "NOBODY"
			},
		},
		{
			name:   "access denied",
			reason: reasonAccessDenied,
			break_: func(t *testing.T, cfg *Config) {
				srv.CreateBucket(t, cfg.Bucket)
				srv.AddUser(t, "reader", "reader-secret")
				cfg.AccessKeyID, cfg.SecretAccessKey = "reader", "reader-secret"
			},
		},
		{
			name:   "endpoint down",
			reason: reasonUnreachable,
			break_: func(t *testing.T, cfg *Config) {
				srv.CreateBucket(t, cfg.Bucket)
				srv.Stop()
			},
			fix: func(t *testing.T, _ *Config) { require.NoError(t, srv.Restart()) },
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bucket := "operator-" + string(rune('a'+i))
			cfg := s3Config(srv, bucket)
			tc.break_(t, cfg)
			exp, logs := observed(t, cfg)

			for range 3 {
				err := exp.ConsumeMetrics(context.Background(), testMetrics())
				require.Error(t, err)
				assert.False(t, consumererror.IsPermanent(err), "an operator can fix it: retry")
				assert.Contains(t, err.Error(), "("+tc.reason+")")
				assert.Contains(t, err.Error(), `bucket "`+bucket+`" at `+srv.Endpoint)
			}
			alarms := logs.FilterLevelExact(zapcore.ErrorLevel).FilterMessageSnippet("Cannot write to").All()
			require.Len(t, alarms, 1, "logged once, not once per object and retry")
			assert.Contains(t, alarms[0].Message, `bucket "`+bucket+`" at `+srv.Endpoint)
			assert.Equal(t, tc.reason, alarms[0].ContextMap()["reason"])

			if tc.fix == nil {
				return
			}
			tc.fix(t, cfg)
			require.NoError(t, exp.ConsumeMetrics(context.Background(), testMetrics()))
			assert.Equal(t, 1, logs.FilterMessageSnippet("works again").Len())
			assert.Len(t, srv.ListObjects(t, bucket, ""), 6)
		})
	}
}

func TestUnresolvableEndpoint(t *testing.T) {
	cfg := syncConfig()
	cfg.Bucket = "anything"
	cfg.Endpoint = "http://s3.invalid:9000"
	cfg.AccessKeyID, cfg.SecretAccessKey = "a", "b"
	exp, _ := observed(t, cfg)
	err := exp.ConsumeMetrics(context.Background(), testMetrics())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "("+reasonUnreachable+")")
	assert.Contains(t, err.Error(), "s3.invalid")
}

func TestLocalFolderUnwritable(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "data")
	require.NoError(t, os.WriteFile(blocker, []byte("a file where the folder should be"), 0o644))
	cfg := syncConfig()
	cfg.LocalFolder = blocker
	exp, logs := observed(t, cfg)

	for range 2 {
		err := exp.ConsumeMetrics(context.Background(), testMetrics())
		require.Error(t, err)
		assert.False(t, consumererror.IsPermanent(err))
		assert.Contains(t, err.Error(), "local folder "+blocker)
		assert.Contains(t, err.Error(), "("+reasonIO+")")
	}
	// Start already failed to create the folder: that, and the two writes,
	// make one log line.
	assert.Equal(t, 1, logs.FilterMessageSnippet("Cannot write to local folder").Len())

	require.NoError(t, os.Remove(blocker))
	require.NoError(t, exp.ConsumeMetrics(context.Background(), testMetrics()))
	entries, err := os.ReadDir(filepath.Join(blocker, "metrics"))
	require.NoError(t, err)
	assert.NotEmpty(t, entries)
}

type failingEncoder struct {
	encoder
	err   error
	panic bool
}

func (f failingEncoder) encodeMetrics(pmetric.Metrics) ([]byte, error) {
	if f.panic {
		panic("unexpected data")
	}
	return nil, f.err
}

func (f failingEncoder) encodeLogs(plog.Logs) ([]byte, error) { return nil, f.err }

// TestEncodeFailureIsPermanent: data that cannot be encoded would fail the
// same way on every retry, so it is dropped (and counted), and an encoder
// panic does not take the collector down.
func TestEncodeFailureIsPermanent(t *testing.T) {
	for _, enc := range []failingEncoder{
		{err: errors.New("value out of range")},
		{panic: true},
	} {
		tel := componenttest.NewTelemetry()
		t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
		cfg := syncConfig()
		cfg.LocalFolder = t.TempDir()
		e, err := newS3Exporter(cfg, metadatatest.NewSettings(tel), signalMetrics)
		require.NoError(t, err)
		enc.encoder = e.enc
		e.enc = enc
		require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))

		err = e.pushMetrics(context.Background(), testMetrics())
		require.Error(t, err)
		assert.True(t, consumererror.IsPermanent(err), "%v", err)
		metadatatest.AssertEqualExporterS3Failures(t, tel, []metricdata.DataPoint[int64]{{
			Value:      6,
			Attributes: attribute.NewSet(attribute.String("reason", reasonEncode), attribute.String("signal", signalMetrics)),
		}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
		require.NoError(t, e.shutdown(context.Background()))
	}
}

func TestTelemetryCountsObjectsAndBytes(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := syncConfig()
	cfg.LocalFolder = t.TempDir()
	cfg.Format = formatOTLPJSON
	cfg.Compression = compressionNone
	exp, err := NewFactory().CreateMetrics(context.Background(), metadatatest.NewSettings(tel), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()
	require.NoError(t, exp.ConsumeMetrics(context.Background(), testMetrics()))

	var total int64
	err = filepath.WalkDir(cfg.LocalFolder, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			info, _ := d.Info()
			total += info.Size()
		}
		return err
	})
	require.NoError(t, err)
	attrs := attribute.NewSet(attribute.String("format", formatOTLPJSON), attribute.String("signal", signalMetrics))
	metadatatest.AssertEqualExporterS3Objects(t, tel, []metricdata.DataPoint[int64]{{Value: 6, Attributes: attrs}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	metadatatest.AssertEqualExporterS3Bytes(t, tel, []metricdata.DataPoint[int64]{{Value: total, Attributes: attrs}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

// TestStaticSecretsDoNotPrint guards configopaque: a config dumped into a
// log or an error must not show the keys.
func TestStaticSecretsDoNotPrint(t *testing.T) {
	cfg := syncConfig()
	cfg.SecretAccessKey = configopaque.String("s3cr3t-value")
	cfg.SessionToken = configopaque.String("t0ken-value")
	for _, s := range []string{cfg.SecretAccessKey.String(), cfg.SessionToken.String()} {
		assert.NotContains(t, s, "value")
	}
}
