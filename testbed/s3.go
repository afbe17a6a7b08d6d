package testbed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/acceltel/acceltel/internal/s3test"
)

// S3Exporter is the part of an s3 exporter's configuration that sends it to
// a bucket of a test's S3 server (internal/s3test, versitygw) with that
// server's root keys, path-style as versitygw needs. local_folder is set
// empty: merged over local.yaml's `s3` (a later --config overrides scalars,
// merges maps, replaces lists) that removes its folder, and the exporter
// treats an empty destination as unset. Add or override keys (prefix,
// format, retry_on_failure, sending_queue, other keys) in the map returned.
func S3Exporter(srv *s3test.Server, bucket string) map[string]any {
	return map[string]any{
		"local_folder":        "",
		"bucket":              bucket,
		"endpoint":            srv.Endpoint,
		"region":              srv.Region,
		"s3_force_path_style": true,
		"access_key_id":       srv.AccessKey,
		"secret_access_key":   srv.SecretKey,
	}
}

// WriteConfig writes cfg as a YAML file in a temporary directory of the
// test and returns its path, for a second --config after a shipped one.
func WriteConfig(t testing.TB, cfg map[string]any) string {
	t.Helper()
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "overlay.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// S3Mirror keeps a local copy of a bucket's objects below Dir, each at its
// key as path, so that DuckDB reads what the S3 API serves (globs,
// hive_partitioning) without its httpfs extension, which it would download.
// Objects are written once: the s3 exporter names them after their content,
// so an object that is there already has not changed.
type S3Mirror struct {
	Dir    string
	srv    *s3test.Server
	bucket string
	seen   map[string]bool
}

// NewS3Mirror mirrors bucket of srv into a temporary directory of the test.
func NewS3Mirror(t testing.TB, srv *s3test.Server, bucket string) *S3Mirror {
	t.Helper()
	return &S3Mirror{Dir: t.TempDir(), srv: srv, bucket: bucket, seen: map[string]bool{}}
}

// Sync lists the objects below prefix, downloads those it has not seen,
// and returns the listing. The server must be up: the s3test helpers fail
// the test otherwise.
func (m *S3Mirror) Sync(t testing.TB, prefix string) []s3test.Object {
	t.Helper()
	objs := m.srv.ListObjects(t, m.bucket, prefix)
	for _, o := range objs {
		if m.seen[o.Key] {
			continue
		}
		if strings.Contains("/"+o.Key+"/", "/../") || strings.HasPrefix(o.Key, "/") {
			t.Fatalf("object key %q would leave the mirror", o.Key)
		}
		path := filepath.Join(m.Dir, filepath.FromSlash(o.Key))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, m.srv.Get(t, m.bucket, o.Key), 0o644); err != nil {
			t.Fatal(err)
		}
		m.seen[o.Key] = true
	}
	return objs
}

// Glob is a read_parquet path for the files of rel (a key prefix such as
// "metrics") below the mirror, quoted as an SQL string literal.
func (m *S3Mirror) Glob(rel string) string {
	return SQLString(filepath.Join(m.Dir, filepath.FromSlash(rel), "**", "*.parquet"))
}

// SQLString quotes s as an SQL string literal.
func SQLString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
