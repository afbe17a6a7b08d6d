package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// LocalSource is a folder the s3 exporter wrote with local_folder.
type LocalSource struct{ Dir string }

func (s LocalSource) String() string { return "folder " + s.Dir }

// List walks the folder; a missing folder is a clear error.
func (s LocalSource) List(ctx context.Context) ([]Object, error) {
	fi, err := os.Stat(s.Dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("input folder %s does not exist", s.Dir)
		}
		return nil, fmt.Errorf("input folder %s: %w", s.Dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("input %s is not a folder", s.Dir)
	}
	var out []Object
	err = filepath.WalkDir(s.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || ctx.Err() != nil {
			return ctx.Err()
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.Dir, p)
		out = append(out, Object{Key: filepath.ToSlash(rel), Size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", s.Dir, err)
	}
	return out, nil
}

// Open opens one file; *os.File is an io.ReaderAt. The file stays open
// until the process ends: a report reads each file once, and the reader
// needs it until the last row is read.
func (s LocalSource) Open(_ context.Context, o Object) (io.ReaderAt, error) {
	return os.Open(filepath.Join(s.Dir, filepath.FromSlash(o.Key)))
}

// S3Options configure an S3 source beyond the standard AWS chain
// (environment, shared config and credentials files, web identity, ECS and
// EC2 roles), for S3-compatible stores.
type S3Options struct {
	Endpoint  string // http(s)://host:port
	PathStyle bool
	Region    string
}

// S3Source is a bucket and prefix the s3 exporter wrote.
type S3Source struct {
	Bucket, Prefix string
	client         *s3.Client
	endpoint       string
}

// ParseS3URL splits s3://bucket/prefix.
func ParseS3URL(u string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an s3://bucket/prefix URL", u)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q names no bucket", u)
	}
	return bucket, strings.Trim(prefix, "/"), nil
}

// NewS3Source builds a client from the standard AWS chain and o.
func NewS3Source(ctx context.Context, bucket, prefix string, o S3Options) (*S3Source, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if o.Region != "" {
		opts = append(opts, awsconfig.WithRegion(o.Region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.PathStyle
	})
	return &S3Source{Bucket: bucket, Prefix: prefix, client: client, endpoint: o.Endpoint}, nil
}

func (s *S3Source) String() string {
	u := "s3://" + s.Bucket + "/" + s.Prefix
	if s.endpoint != "" {
		u += " at " + s.endpoint
	}
	return u
}

// List lists the objects below the prefix.
func (s *S3Source) List(ctx context.Context) ([]Object, error) {
	prefix := s.Prefix
	if prefix != "" {
		prefix += "/"
	}
	var out []Object
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", s, err)
		}
		for _, o := range page.Contents {
			out = append(out, Object{Key: strings.TrimPrefix(aws.ToString(o.Key), prefix), Size: aws.ToInt64(o.Size)})
		}
	}
	return out, nil
}

// Open downloads the object whole: Parquet readers jump between the footer
// and the pages, which would be one request each against S3.
func (s *S3Source) Open(ctx context.Context, o Object) (io.ReaderAt, error) {
	key := o.Key
	if s.Prefix != "" {
		key = s.Prefix + "/" + key
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer func() { _ = out.Body.Close() }() // read-only
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, err
	}
	return bytes.NewReader(data), nil
}
