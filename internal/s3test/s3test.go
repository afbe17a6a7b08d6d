// Package s3test runs a real S3 server, versitygw with its POSIX backend,
// for tests: one process per Start, on a free loopback port, with its data in
// the test's temporary directory and fresh keys.
//
//	srv := s3test.Start(t)
//	srv.CreateBucket(t, "metrics")
//	... point the code under test at srv.Endpoint with srv.AccessKey,
//	    srv.SecretKey, srv.Region and path-style addressing ...
//	for _, o := range srv.ListObjects(t, "metrics", "") {
//		body := srv.Get(t, "metrics", o.Key)
//	}
//
// The helpers take the testing.TB to fail, so that subtests can share one
// server.
//
// Stop and Restart keep the directory and the port, so a test can take the
// server away (an outage) and bring it back with its objects intact.
//
// The binary is bin/versitygw at the root of this module, built from the
// version pinned in internal/tools/versitygw/go.mod (`make bin/versitygw`);
// Start builds it with the same command when it is missing, which takes a
// few minutes once. ACCELTEL_VERSITYGW names another binary.
package s3test // import "github.com/acceltel/acceltel/internal/s3test"

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Region is the region the server signs with.
const Region = "us-east-1"

// Server is one running versitygw.
type Server struct {
	// Endpoint is the server's base URL, http://127.0.0.1:<port>.
	Endpoint string
	// Region, AccessKey and SecretKey are what a client signs with; clients
	// must use path-style addressing (bucket in the path, not the host).
	Region    string
	AccessKey string
	SecretKey string
	// Dir holds the buckets, one directory each, with objects as files.
	Dir string
	// CAFile is the PEM file of the CA that signed a StartTLS server's
	// certificate; empty for a plaintext server.
	CAFile string

	addr    string
	root    string
	binary  string
	logPath string

	certFile, keyFile string
	http              *http.Client

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Object is one entry of a bucket listing.
type Object struct {
	Key  string
	Size int64
	// ETag is as S3 returns it, quotes included; multipart objects end in
	// -<number of parts>.
	ETag string
}

// Start starts a server and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, false)
}

// StartTLS starts a server that serves HTTPS only, with a certificate for
// 127.0.0.1 signed by a CA made for it: CAFile holds the CA, which its own
// helpers trust and clients must be given.
func StartTLS(t testing.TB) *Server {
	t.Helper()
	return start(t, true)
}

func start(t testing.TB, withTLS bool) *Server {
	t.Helper()
	bin := binary(t)
	root := t.TempDir()
	s := &Server{
		Region:    Region,
		AccessKey: "AK" + randomHex(t, 9),
		SecretKey: randomHex(t, 20),
		Dir:       filepath.Join(root, "data"),
		root:      root,
		binary:    bin,
		logPath:   filepath.Join(root, "versitygw.log"),
	}
	for _, d := range []string{s.Dir, filepath.Join(root, "meta"), filepath.Join(root, "iam")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("s3test: %v", err)
		}
	}
	scheme := "http://"
	if withTLS {
		scheme = "https://"
		if err := s.makeCertificates(); err != nil {
			t.Fatalf("s3test: %v", err)
		}
	}
	t.Cleanup(s.Stop)
	// Another process can take the free port between probe and bind; try a
	// few ports before giving up.
	var err error
	for range 3 {
		s.addr = freeAddr(t)
		s.Endpoint = scheme + s.addr
		if err = s.launch(); err == nil {
			return s
		}
	}
	t.Fatalf("s3test: versitygw did not start: %v", err)
	return nil
}

// Stop stops the server; its directory and port stay reserved for Restart.
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart starts the server again on the same port and directory, stopping
// it first if it runs.
func (s *Server) Restart() error {
	s.Stop()
	// The port was ours a moment ago; retry briefly in case the kernel has
	// not released it yet.
	var err error
	for range 20 {
		if err = s.launch(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("s3test: versitygw did not restart on %s: %w", s.addr, err)
}

// Client returns an S3 client for the server.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		HTTPClient:   s.httpClient(),
	})
}

// CreateBucket creates a bucket or fails the test.
func (s *Server) CreateBucket(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("s3test: creating bucket %q: %v", name, err)
	}
}

// ListObjects lists every object of bucket whose key starts with prefix, in
// key order, or fails the test.
func (s *Server) ListObjects(t testing.TB, bucket, prefix string) []Object {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []Object
	p := s3.NewListObjectsV2Paginator(s.Client(), &s3.ListObjectsV2Input{
		Bucket: aws.String(bucket),
		Prefix: aws.String(prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("s3test: listing %s/%s: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			out = append(out, Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ETag: aws.ToString(o.ETag)})
		}
	}
	return out
}

// Get returns the content of an object or fails the test.
func (s *Server) Get(t testing.TB, bucket, key string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := s.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("s3test: getting %s/%s: %v", bucket, key, err)
	}
	defer func() { _ = out.Body.Close() }()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("s3test: reading %s/%s: %v", bucket, key, err)
	}
	return b
}

// AddUser creates an account with the "user" role: it can create and use
// buckets of its own but is denied those of others (AccessDenied), which is
// how a test gets credentials that are valid but not allowed to write.
// (Plaintext servers only.)
func (s *Server) AddUser(t testing.TB, accessKey, secretKey string) {
	t.Helper()
	if s.CAFile != "" {
		t.Fatalf("s3test: AddUser needs a plaintext server (Start, not StartTLS)")
	}
	cmd := exec.Command(s.binary, "admin",
		"--access", s.AccessKey, "--secret", s.SecretKey, "--region", s.Region, "--endpoint-url", s.Endpoint,
		"create-user", "--access", accessKey, "--secret", secretKey, "--role", "user")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("s3test: creating user %q: %v\n%s", accessKey, err, out)
	}
}

// launch starts the process and waits until it answers HTTP.
func (s *Server) launch() error {
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	args := []string{
		"--access", s.AccessKey,
		"--secret", s.SecretKey,
		"--region", s.Region,
		"--port", s.addr,
		"--quiet",
		// Internal IAM, so that AddUser can create accounts that own
		// nothing; the root account bypasses it.
		"--iam-dir", filepath.Join(s.root, "iam"),
		// Sidecar metadata instead of extended attributes: works on any
		// file system a temporary directory may live on (tmpfs, overlayfs).
	}
	if s.certFile != "" {
		args = append(args, "--cert", s.certFile, "--key", s.keyFile)
	}
	args = append(args, "posix", "--sidecar", filepath.Join(s.root, "meta"), s.Dir)
	cmd := exec.Command(s.binary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(done)
	}()
	if err := waitReady(s.httpClient(), s.Endpoint, done); err != nil {
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("%w; log:\n%s", err, tail(s.logPath))
	}
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	return nil
}

// waitReady polls until the server answers anything: an unsigned request is
// refused with 403, which proves it serves S3.
func waitReady(client *http.Client, endpoint string, exited <-chan struct{}) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("versitygw exited")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/", nil)
		resp, err := client.Do(req)
		cancel()
		if err == nil {
			_ = resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("versitygw did not answer within 30s")
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(bytes.TrimSpace(b))
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("s3test: no free port: %v", err)
	}
	defer func() { _ = l.Close() }()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("s3test: %v", err)
	}
	return hex.EncodeToString(b)
}
