package s3test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func put(t *testing.T, s *Server, bucket, key string, body []byte) error {
	t.Helper()
	return putWith(s.Client(), bucket, key, body)
}

func putWith(c *s3.Client, bucket, key string, body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
	})
	return err
}

func TestServerRoundTripAndOutage(t *testing.T) {
	s := Start(t)
	if !strings.HasPrefix(s.Endpoint, "http://127.0.0.1:") {
		t.Fatalf("endpoint %q is not on loopback", s.Endpoint)
	}
	s.CreateBucket(t, "round-trip")
	if err := put(t, s, "round-trip", "a/b/one.txt", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := put(t, s, "round-trip", "a/two.txt", []byte("two!")); err != nil {
		t.Fatal(err)
	}

	objs := s.ListObjects(t, "round-trip", "a/b/")
	if len(objs) != 1 || objs[0].Key != "a/b/one.txt" || objs[0].Size != 3 || objs[0].ETag == "" {
		t.Fatalf("ListObjects(a/b/) = %+v, want a/b/one.txt of 3 bytes with an ETag", objs)
	}
	if got := len(s.ListObjects(t, "round-trip", "")); got != 2 {
		t.Fatalf("ListObjects() found %d objects, want 2", got)
	}
	if got := s.Get(t, "round-trip", "a/two.txt"); string(got) != "two!" {
		t.Fatalf("Get = %q, want %q", got, "two!")
	}

	endpoint := s.Endpoint
	s.Stop()
	if err := put(t, s, "round-trip", "during-outage", []byte("x")); err == nil {
		t.Fatal("PutObject succeeded while the server was stopped")
	}
	s.Stop() // a second Stop does nothing

	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if s.Endpoint != endpoint {
		t.Fatalf("endpoint changed across Restart: %s, then %s", endpoint, s.Endpoint)
	}
	if got := s.Get(t, "round-trip", "a/b/one.txt"); string(got) != "one" {
		t.Fatalf("after Restart, Get = %q, want %q", got, "one")
	}
	if err := put(t, s, "round-trip", "after-restart", []byte("y")); err != nil {
		t.Fatalf("PutObject after Restart: %v", err)
	}
}

func TestWrongCredentialsAreRefused(t *testing.T) {
	s := Start(t)
	s.CreateBucket(t, "locked")
	wrong := s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, "not-the-secret", ""),
	})
	if err := putWith(wrong, "locked", "k", []byte("v")); err == nil {
		t.Fatal("PutObject with a wrong secret succeeded")
	}
}

func TestServersAreIndependent(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.Endpoint == b.Endpoint || a.Dir == b.Dir || a.AccessKey == b.AccessKey {
		t.Fatalf("two servers share endpoint, directory or keys: %s %s", a.Endpoint, b.Endpoint)
	}
	a.CreateBucket(t, "only-in-a")
	if _, err := b.Client().HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String("only-in-a")}); err == nil {
		t.Fatal("bucket created in one server is visible in the other")
	}
}

func TestAddedUserIsDeniedOthersBuckets(t *testing.T) {
	s := Start(t)
	s.CreateBucket(t, "roots")
	s.AddUser(t, "writer", "writer-secret")
	user := s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("writer", "writer-secret", ""),
	})
	err := putWith(user, "roots", "k", []byte("v"))
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("PutObject by another account = %v, want AccessDenied", err)
	}
}
