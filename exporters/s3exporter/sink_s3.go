package s3exporter // import "github.com/acceltel/acceltel/exporters/s3exporter"

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// s3Sink puts objects into a bucket; objects larger than one part go up as
// multipart uploads, several parts at a time, and a failed multipart upload
// is aborted so no orphaned parts accrue storage costs.
//
// feature/s3/manager is deprecated in favour of feature/s3/transfermanager,
// which is still v0.x; the lint exceptions below go when it reaches v1.
type s3Sink struct {
	cfg S3Config

	mu       sync.Mutex
	uploader *manager.Uploader //nolint:staticcheck // see s3Sink
}

func newS3Sink(cfg S3Config) *s3Sink {
	return &s3Sink{cfg: cfg}
}

func (s *s3Sink) where() string {
	endpoint := s.cfg.Endpoint
	if endpoint == "" {
		endpoint = "the AWS endpoint of region " + s.region()
	}
	return fmt.Sprintf("bucket %q at %s", s.cfg.Bucket, endpoint)
}

func (s *s3Sink) region() string {
	if s.cfg.Region != "" {
		return s.cfg.Region
	}
	return "(from the AWS environment)"
}

// start builds the client only: credentials are resolved lazily by the SDK
// and a bucket that is not reachable yet is retried like any outage, so the
// collector starts either way.
func (s *s3Sink) start(ctx context.Context) error {
	_, err := s.client(ctx)
	return err
}

// client builds the uploader on first use; when the AWS configuration could
// not be loaded at start (a profile or web identity file that appears
// later), each write tries again.
func (s *s3Sink) client(ctx context.Context) (*manager.Uploader, error) { //nolint:staticcheck // see s3Sink
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.uploader != nil {
		return s.uploader, nil
	}
	var opts []func(*awsconfig.LoadOptions) error
	if s.cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(s.cfg.Region))
	}
	if s.cfg.AccessKeyID != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(
			string(s.cfg.AccessKeyID), string(s.cfg.SecretAccessKey), string(s.cfg.SessionToken))))
	}
	tlsCfg, err := s.cfg.TLS.LoadTLSConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading tls settings: %w", err)
	}
	opts = append(opts, awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.TLSClientConfig = tlsCfg
	})))
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		// S3's own default; S3-compatible stores sign with it unless told
		// otherwise, and without any region every request would fail.
		awsCfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if s.cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(s.cfg.Endpoint)
		}
		o.UsePathStyle = s.cfg.ForcePathStyle
	})
	s.uploader = manager.NewUploader(client, func(u *manager.Uploader) { //nolint:staticcheck // see s3Sink
		u.PartSize = s.cfg.MultipartPartSize
	})
	return s.uploader, nil
}

func (s *s3Sink) put(ctx context.Context, key string, body []byte, contentType string) error {
	uploader, err := s.client(ctx)
	if err != nil {
		return err
	}
	in := &s3.PutObjectInput{
		Bucket:      aws.String(s.cfg.Bucket),
		Key:         aws.String(key),
		Body:        bytes.NewReader(body),
		ContentType: aws.String(contentType),
	}
	if s.cfg.StorageClass != "" {
		in.StorageClass = types.StorageClass(s.cfg.StorageClass)
	}
	if s.cfg.ServerSideEncryption != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(s.cfg.ServerSideEncryption)
	}
	if s.cfg.SSEKMSKeyID != "" {
		in.SSEKMSKeyId = aws.String(s.cfg.SSEKMSKeyID)
	}
	_, err = uploader.Upload(ctx, in) //nolint:staticcheck // see s3Sink
	return err
}
