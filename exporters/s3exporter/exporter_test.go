package s3exporter

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/acceltel/acceltel/exporters/s3exporter/internal/metadata"
	"github.com/acceltel/acceltel/internal/s3test"
)

// syncConfig is a config whose ConsumeX returns only once the objects are
// written (or failed): no queue, no retries.
func syncConfig() *Config {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	cfg.RetryConfig.Enabled = false
	cfg.TimeoutConfig.Timeout = 30 * time.Second
	return cfg
}

func s3Config(srv *s3test.Server, bucket string) *Config {
	cfg := syncConfig()
	cfg.Bucket = bucket
	cfg.Endpoint = srv.Endpoint
	cfg.Region = srv.Region
	cfg.ForcePathStyle = true
	cfg.AccessKeyID = configopaque.String(srv.AccessKey)
	cfg.SecretAccessKey = configopaque.String(srv.SecretKey)
	return cfg
}

func startMetrics(t *testing.T, cfg *Config) exporter.Metrics {
	t.Helper()
	require.NoError(t, cfg.Validate())
	exp, err := NewFactory().CreateMetrics(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	return exp
}

func startLogs(t *testing.T, cfg *Config) exporter.Logs {
	t.Helper()
	require.NoError(t, cfg.Validate())
	exp, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	return exp
}

var formatCases = []struct{ format, compression string }{
	{formatParquet, compressionZstd},
	{formatParquet, compressionGzip},
	{formatParquet, compressionNone},
	{formatOTLPJSON, compressionNone},
	{formatOTLPJSON, compressionGzip},
	{formatOTLPJSON, compressionZstd},
	{formatOTLPProto, compressionNone},
	{formatOTLPProto, compressionGzip},
	{formatOTLPProto, compressionZstd},
}

// keyPattern is the default layout under a prefix.
func keyPattern(prefix, signal, ext string) *regexp.Regexp {
	return regexp.MustCompile("^" + regexp.QuoteMeta(prefix) + signal +
		`/dt=\d{4}-\d{2}-\d{2}/hour=\d{2}/host\.name=[^/]+/part-[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}` + regexp.QuoteMeta(ext) + "$")
}

func TestMetricsToS3EveryFormat(t *testing.T) {
	srv := s3test.Start(t)
	for _, fc := range formatCases {
		t.Run(fc.format+"/"+fc.compression, func(t *testing.T) {
			bucket := strings.ReplaceAll("m-"+fc.format+"-"+fc.compression, "_", "-")
			srv.CreateBucket(t, bucket)
			cfg := s3Config(srv, bucket)
			cfg.Format, cfg.Compression, cfg.Prefix = fc.format, fc.compression, "fleet-a/"
			exp := startMetrics(t, cfg)

			md := testMetrics()
			require.NoError(t, exp.ConsumeMetrics(context.Background(), md))

			prec := inNanos
			if fc.format == formatParquet {
				prec = inMicros
			}
			want, wantDir := canonMetrics(md, prec)
			objs := srv.ListObjects(t, bucket, "")
			// Two hosts and a resource without host.name, each on both sides
			// of an hour boundary.
			require.Len(t, objs, 6, "one object per partition")
			ext := formats[fc.format](fc.compression).extension()
			got := map[string][]string{}
			for _, o := range objs {
				require.Regexp(t, keyPattern("fleet-a/", "metrics", ext), o.Key)
				got[o.Key] = decodeMetricsObject(t, o.Key, srv.Get(t, bucket, o.Key))
			}
			checkExactlyOnce(t, want, wantDir, got)
		})
	}
}

func TestLogsToS3EveryFormat(t *testing.T) {
	srv := s3test.Start(t)
	for _, fc := range formatCases {
		t.Run(fc.format+"/"+fc.compression, func(t *testing.T) {
			bucket := strings.ReplaceAll("l-"+fc.format+"-"+fc.compression, "_", "-")
			srv.CreateBucket(t, bucket)
			cfg := s3Config(srv, bucket)
			cfg.Format, cfg.Compression = fc.format, fc.compression
			exp := startLogs(t, cfg)

			ld := testLogs()
			require.NoError(t, exp.ConsumeLogs(context.Background(), ld))

			prec := inNanos
			if fc.format == formatParquet {
				prec = inMicros
			}
			want, wantDir := canonLogs(ld, prec)
			objs := srv.ListObjects(t, bucket, "")
			require.Len(t, objs, 4, "two hosts on both sides of an hour boundary")
			ext := formats[fc.format](fc.compression).extension()
			got := map[string][]string{}
			for _, o := range objs {
				require.Regexp(t, keyPattern("", "logs", ext), o.Key)
				got[o.Key] = decodeLogsObject(t, o.Key, srv.Get(t, bucket, o.Key))
			}
			checkExactlyOnce(t, want, wantDir, got)
		})
	}
}

func TestCustomPartitionTemplate(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "custom")
	cfg := s3Config(srv, "custom")
	cfg.Prefix = "a/b"
	cfg.Partition = "{year}/{month}/{day}/{hour}{minute}/{k8s.namespace.name}/{service.name}/{missing.attr}"
	exp := startMetrics(t, cfg)
	require.NoError(t, exp.ConsumeMetrics(context.Background(), testMetrics()))

	var keys []string
	for _, o := range srv.ListObjects(t, "custom", "") {
		keys = append(keys, o.Key[:strings.LastIndex(o.Key, "/")])
	}
	require.ElementsMatch(t, []string{
		"a/b/2026/11/28/1359/ml/trainer/" + missingValue,
		"a/b/2026/11/28/1400/ml/trainer/" + missingValue,
	}, keys, "every resource shares these values, so only time splits")
}

// TestRetriedBatchIsNotDuplicated shows why object names derive from their
// content: exporterhelper retries a whole batch when one of its objects
// fails, and the objects already written are overwritten, not duplicated.
func TestRetriedBatchIsNotDuplicated(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "idempotent")
	exp := startMetrics(t, s3Config(srv, "idempotent"))
	md := testMetrics()
	require.NoError(t, exp.ConsumeMetrics(context.Background(), md))
	first := srv.ListObjects(t, "idempotent", "")
	require.NoError(t, exp.ConsumeMetrics(context.Background(), md))
	require.Equal(t, first, srv.ListObjects(t, "idempotent", ""))
}

func TestLocalFolder(t *testing.T) {
	for _, fc := range []struct{ format, compression string }{
		{formatParquet, compressionZstd},
		{formatOTLPJSON, compressionGzip},
		{formatOTLPProto, compressionNone},
	} {
		t.Run(fc.format, func(t *testing.T) {
			dir := t.TempDir()
			cfg := syncConfig()
			cfg.LocalFolder = filepath.Join(dir, "not", "yet", "there")
			cfg.Format, cfg.Compression = fc.format, fc.compression
			mexp := startMetrics(t, cfg)
			lexp := startLogs(t, cfg)
			md, ld := testMetrics(), testLogs()
			require.NoError(t, mexp.ConsumeMetrics(context.Background(), md))
			require.NoError(t, lexp.ConsumeLogs(context.Background(), ld))

			prec := inNanos
			if fc.format == formatParquet {
				prec = inMicros
			}
			wantM, dirsM := canonMetrics(md, prec)
			wantL, dirsL := canonLogs(ld, prec)
			gotM, gotL := map[string][]string{}, map[string][]string{}
			ext := formats[fc.format](fc.compression).extension()
			err := filepath.WalkDir(cfg.LocalFolder, func(path string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(cfg.LocalFolder, path)
				key := filepath.ToSlash(rel)
				body, err := os.ReadFile(path)
				require.NoError(t, err)
				info, err := d.Info()
				require.NoError(t, err)
				require.Equal(t, os.FileMode(0o644), info.Mode().Perm(), key)
				switch {
				case keyPattern("", "metrics", ext).MatchString(key):
					gotM[key] = decodeMetricsObject(t, key, body)
				case keyPattern("", "logs", ext).MatchString(key):
					gotL[key] = decodeLogsObject(t, key, body)
				default:
					t.Errorf("unexpected file %s (a temporary file left behind?)", key)
				}
				return nil
			})
			require.NoError(t, err)
			require.Len(t, gotM, 6)
			require.Len(t, gotL, 4)
			checkExactlyOnce(t, wantM, dirsM, gotM)
			checkExactlyOnce(t, wantL, dirsL, gotL)
		})
	}
}
