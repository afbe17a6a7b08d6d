package s3exporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/acceltel/acceltel/exporters/s3exporter/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg, confmap.Validate(cfg)
}

func TestLoadFullConfig(t *testing.T) {
	cfg, err := loadConfig(t, "full")
	require.NoError(t, err)
	assert.Equal(t, "gpu-telemetry", cfg.Bucket)
	assert.Equal(t, "eu-west-1", cfg.Region)
	assert.True(t, cfg.ForcePathStyle)
	assert.Equal(t, "/etc/acceltel/s3/ca.pem", cfg.TLS.CAFile)
	assert.Equal(t, "1.3", cfg.TLS.MinVersion)
	assert.Equal(t, "wJalrXUtnFEMIEXAMPLEKEY", string(cfg.SecretAccessKey))
	assert.Equal(t, "STANDARD_IA", cfg.StorageClass)
	assert.Equal(t, "aws:kms", cfg.ServerSideEncryption)
	assert.Equal(t, int64(32<<20), cfg.MultipartPartSize)
	assert.Equal(t, 8, cfg.UploadConcurrency)
	assert.Equal(t, formatOTLPProto, cfg.Format)
	assert.Equal(t, compressionGzip, cfg.Compression)
	assert.Equal(t, 30*time.Second, cfg.TimeoutConfig.Timeout)
	assert.Equal(t, time.Hour, cfg.RetryConfig.MaxElapsedTime)
	q := cfg.QueueConfig.Get()
	require.NotNil(t, q.StorageID)
	assert.Equal(t, "file_storage", q.StorageID.String())
	assert.Equal(t, 2, q.NumConsumers)
	b := q.Batch.Get()
	assert.Equal(t, 30*time.Second, b.FlushTimeout)
	assert.Equal(t, int64(50000), b.MinSize)
	assert.Equal(t, int64(100000), b.MaxSize)
	assert.Equal(t, int64(defaultQueueSize), q.QueueSize, "unset fields keep the defaults")
}

func TestLoadLocalConfigKeepsDefaults(t *testing.T) {
	cfg, err := loadConfig(t, "local")
	require.NoError(t, err)
	assert.Equal(t, "/var/lib/acceltel/telemetry", cfg.LocalFolder)
	assert.Equal(t, formatParquet, cfg.Format)
	assert.Equal(t, compressionZstd, cfg.Compression)
	assert.Equal(t, defaultPartition, cfg.Partition)
	b := cfg.QueueConfig.Get().Batch.Get()
	assert.Equal(t, defaultFlushTimeout, b.FlushTimeout)
	assert.Equal(t, int64(defaultBatchMin), b.MinSize)
	assert.Equal(t, int64(defaultBatchMax), b.MaxSize)
	assert.True(t, cfg.RetryConfig.Enabled)
	assert.Zero(t, cfg.RetryConfig.MaxElapsedTime, "retry until written")
}

func TestInvalidConfigs(t *testing.T) {
	for name, want := range map[string][]string{
		"nothing":                 {"set either bucket (S3) or local_folder"},
		"both":                    {`bucket "gpu-telemetry" and local_folder "/tmp/x" are both set`},
		"local_with_s3_settings":  {"region applies to S3 only", "storage_class applies to S3 only"},
		"bad_format":              {`format "csv" is not one of otlp_json, otlp_proto, parquet`},
		"bad_compression":         {`compression "snappy" is not one of none, gzip, zstd`},
		"unclosed_placeholder":    {"partition:", "has a { without }"},
		"empty_placeholder":       {"empty or malformed placeholder {}"},
		"absolute_partition":      {"must not start or end with /"},
		"dotdot_partition":        {`has a ".." path segment`},
		"absolute_prefix":         {`prefix "/data" must not start with /`},
		"bad_bucket":              {`bucket "Not_A_Bucket" is not a valid bucket name`},
		"bad_endpoint":            {`endpoint "s3.example.com:9000" must be an http:// or https:// URL`},
		"half_keys":               {"access_key_id and secret_access_key must be set together"},
		"token_without_keys":      {"session_token needs access_key_id and secret_access_key"},
		"bad_storage_class":       {`storage_class "COLD" is not one of`},
		"bad_sse":                 {`server_side_encryption "rot13" is not one of`},
		"kms_key_without_kms":     {"sse_kms_key_id needs server_side_encryption aws:kms"},
		"small_parts":             {"multipart_part_size must be at least 5242880 bytes"},
		"no_concurrency":          {"upload_concurrency must be at least 1"},
		"batch_bigger_than_queue": {"`min_size` must be less than or equal to `queue_size`"},
		"local_with_tls":          {"tls applies to S3 only"},
		"tls_insecure":            {"tls.insecure does not apply"},
		"tls_on_http":             {`tls is set but endpoint "http://minio:9000" is plaintext`},
		"tls_bad_version":         {"tls:", "0.9"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(t, name)
			require.Error(t, err)
			for _, w := range want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestDefaultConfigNeedsADestination(t *testing.T) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	err := confmap.Validate(cfg)
	require.ErrorContains(t, err, "set either bucket (S3) or local_folder")
	cfg.LocalFolder = "data"
	require.NoError(t, confmap.Validate(cfg), "a relative folder is relative to the working directory")
}

func TestPartialQueueConfigKeepsDefaults(t *testing.T) {
	cfg, err := loadConfig(t, "flush_only")
	require.NoError(t, err)
	q := cfg.QueueConfig.Get()
	assert.Equal(t, "file_storage", q.StorageID.String())
	assert.Equal(t, int64(defaultQueueSize), q.QueueSize)
	b := q.Batch.Get()
	assert.Equal(t, 5*time.Second, b.FlushTimeout)
	assert.Equal(t, int64(defaultBatchMin), b.MinSize)
	assert.Equal(t, int64(defaultBatchMax), b.MaxSize)
}
