package s3exporter // import "github.com/acceltel/acceltel/exporters/s3exporter"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// sink stores one object under a key.
type sink interface {
	start(ctx context.Context) error
	put(ctx context.Context, key string, body []byte, contentType string) error
	// where names the destination in logs and errors.
	where() string
}

// localSink writes objects as files below a folder. Each file is written
// under a hidden temporary name in its final directory, synced, then renamed,
// so a reader (or a crash) never sees a partial file: the rename is atomic
// within one file system.
type localSink struct {
	root string
}

func newLocalSink(folder string) (*localSink, error) {
	abs, err := filepath.Abs(folder)
	if err != nil {
		return nil, fmt.Errorf("local_folder %q: %w", folder, err)
	}
	return &localSink{root: abs}, nil
}

func (s *localSink) where() string { return "local folder " + s.root }

// start creates the folder, but an error is not fatal: a folder on a volume
// mounted later, or made writable later, is retried like an S3 outage.
func (s *localSink) start(context.Context) error {
	return os.MkdirAll(s.root, 0o755)
}

func (s *localSink) put(_ context.Context, key string, body []byte, _ string) error {
	path := filepath.Join(s.root, filepath.FromSlash(key))
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	// Any failure below leaves no temporary file behind.
	committed := false
	defer func() {
		if !committed {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(body); err != nil {
		return err
	}
	// Without the sync, a crash after the rename can leave an empty file
	// under the final name on ext4 and xfs.
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	committed = true
	return syncDir(dir)
}

// syncDir makes the rename itself durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	// Some file systems cannot sync a directory; the file itself is synced.
	if errors.Is(err, os.ErrInvalid) {
		err = nil
	}
	return errors.Join(err, d.Close())
}
