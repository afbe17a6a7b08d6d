package s3exporter // import "github.com/acceltel/acceltel/exporters/s3exporter"

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

// Config is the configuration of the s3 exporter. Exactly one destination is
// set: Bucket (S3 or any S3-compatible store) or LocalFolder.
type Config struct {
	TimeoutConfig exporterhelper.TimeoutConfig                             `mapstructure:",squash"`
	QueueConfig   configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	RetryConfig   configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`

	S3Config `mapstructure:",squash"`

	// LocalFolder writes the objects below this directory instead of to S3,
	// with the same keys as paths.
	LocalFolder string `mapstructure:"local_folder"`

	// Prefix is put before every key (or path below LocalFolder).
	Prefix string `mapstructure:"prefix"`

	// Partition is the template of the directory part of each key; see
	// partition.go for its placeholders.
	Partition string `mapstructure:"partition"`

	// Format is parquet, otlp_json or otlp_proto.
	Format string `mapstructure:"format"`

	// Compression is none, gzip or zstd: the page codec for parquet, the
	// whole file for the OTLP formats.
	Compression string `mapstructure:"compression"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// S3Config says where and how objects are put in S3.
type S3Config struct {
	Bucket string `mapstructure:"bucket"`
	Region string `mapstructure:"region"`
	// Endpoint overrides the AWS endpoint, for S3-compatible stores
	// (MinIO, Ceph, versitygw, ...): http(s)://host:port.
	Endpoint string `mapstructure:"endpoint"`
	// ForcePathStyle addresses buckets as endpoint/bucket rather than
	// bucket.endpoint, which most S3-compatible stores need.
	ForcePathStyle bool `mapstructure:"s3_force_path_style"`

	// TLS of https endpoints: the CA that signed the store's certificate
	// (ca_file; the system's roots by default), a client certificate for
	// stores that require one, minimum version. The endpoint's scheme
	// decides whether TLS is used, so insecure is not accepted.
	TLS configtls.ClientConfig `mapstructure:"tls"`

	// Static credentials; when empty the standard AWS chain applies
	// (environment, shared files, web identity, ECS/EC2 roles).
	AccessKeyID     configopaque.String `mapstructure:"access_key_id"`
	SecretAccessKey configopaque.String `mapstructure:"secret_access_key"`
	SessionToken    configopaque.String `mapstructure:"session_token"`

	StorageClass         string `mapstructure:"storage_class"`
	ServerSideEncryption string `mapstructure:"server_side_encryption"`
	SSEKMSKeyID          string `mapstructure:"sse_kms_key_id"`

	// MultipartPartSize is the part size of multipart uploads; objects larger
	// than one part are uploaded in parts, several at a time.
	MultipartPartSize int64 `mapstructure:"multipart_part_size"`

	// UploadConcurrency bounds how many objects of one batch (one per
	// partition) are written at the same time.
	UploadConcurrency int `mapstructure:"upload_concurrency"`
}

// S3 bucket names: 3 to 63 lowercase letters, digits, dots and hyphens,
// starting and ending with a letter or digit.
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// Validate reports every bad setting and combination at once.
func (cfg *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	switch {
	case cfg.Bucket == "" && cfg.LocalFolder == "":
		add("set either bucket (S3) or local_folder")
	case cfg.Bucket != "" && cfg.LocalFolder != "":
		add("bucket %q and local_folder %q are both set; set one", cfg.Bucket, cfg.LocalFolder)
	}
	if cfg.LocalFolder != "" {
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"region", cfg.Region != ""}, {"endpoint", cfg.Endpoint != ""}, {"s3_force_path_style", cfg.ForcePathStyle},
			{"access_key_id", cfg.AccessKeyID != ""}, {"secret_access_key", cfg.SecretAccessKey != ""},
			{"session_token", cfg.SessionToken != ""}, {"storage_class", cfg.StorageClass != ""},
			{"server_side_encryption", cfg.ServerSideEncryption != ""}, {"sse_kms_key_id", cfg.SSEKMSKeyID != ""},
			{"tls", cfg.tlsSet()},
		} {
			if f.set {
				add("%s applies to S3 only, not to local_folder", f.name)
			}
		}
	}
	if cfg.Bucket != "" {
		errs = append(errs, cfg.S3Config.validate()...)
	}
	if cfg.UploadConcurrency < 1 {
		add("upload_concurrency must be at least 1, got %d", cfg.UploadConcurrency)
	}

	if _, ok := formats[cfg.Format]; !ok {
		add("format %q is not one of %s", cfg.Format, strings.Join(formatNames(), ", "))
	}
	if !slices.Contains(compressions, cfg.Compression) {
		add("compression %q is not one of %s", cfg.Compression, strings.Join(compressions, ", "))
	}
	if err := validatePrefix(cfg.Prefix); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseTemplate(cfg.Partition); err != nil {
		add("partition: %w", err)
	}
	return errors.Join(errs...)
}

func (c *S3Config) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if !bucketName.MatchString(c.Bucket) || strings.Contains(c.Bucket, "..") {
		add("bucket %q is not a valid bucket name (3-63 lowercase letters, digits, dots, hyphens)", c.Bucket)
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("endpoint %q must be an http:// or https:// URL with a host", c.Endpoint)
		}
	}
	if c.TLS.Insecure {
		add("tls.insecure does not apply: an http:// endpoint is plaintext, an https:// one is TLS")
	}
	if c.tlsSet() && strings.HasPrefix(c.Endpoint, "http://") {
		add("tls is set but endpoint %q is plaintext http://; use https://", c.Endpoint)
	}
	if err := c.TLS.Validate(); err != nil {
		add("tls: %w", err)
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		add("access_key_id and secret_access_key must be set together")
	}
	if c.SessionToken != "" && c.AccessKeyID == "" {
		add("session_token needs access_key_id and secret_access_key")
	}
	if c.StorageClass != "" && !slices.Contains(types.StorageClass("").Values(), types.StorageClass(c.StorageClass)) {
		add("storage_class %q is not one of %v", c.StorageClass, types.StorageClass("").Values())
	}
	sse := types.ServerSideEncryption(c.ServerSideEncryption)
	if c.ServerSideEncryption != "" && !slices.Contains(sse.Values(), sse) {
		add("server_side_encryption %q is not one of %v", c.ServerSideEncryption, sse.Values())
	}
	if c.SSEKMSKeyID != "" && sse != types.ServerSideEncryptionAwsKms && sse != types.ServerSideEncryptionAwsKmsDsse {
		add("sse_kms_key_id needs server_side_encryption aws:kms or aws:kms:dsse")
	}
	if c.MultipartPartSize < manager.MinUploadPartSize {
		add("multipart_part_size must be at least %d bytes (the S3 minimum), got %d", manager.MinUploadPartSize, c.MultipartPartSize)
	}
	return errs
}

// tlsSet reports whether any tls setting differs from the default.
func (c *S3Config) tlsSet() bool {
	return !reflect.DeepEqual(c.TLS, configtls.NewDefaultClientConfig())
}

func validatePrefix(prefix string) error {
	if strings.HasPrefix(prefix, "/") {
		return fmt.Errorf("prefix %q must not start with /", prefix)
	}
	for seg := range strings.SplitSeq(strings.TrimSuffix(prefix, "/"), "/") {
		if prefix != "" && (seg == "" || seg == "." || seg == "..") {
			return fmt.Errorf("prefix %q has an empty, . or .. path segment", prefix)
		}
	}
	return nil
}
