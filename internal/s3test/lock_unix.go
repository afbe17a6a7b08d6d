//go:build unix

package s3test // import "github.com/acceltel/acceltel/internal/s3test"

import (
	"os"
	"syscall"
)

// lockFile holds an exclusive lock on path until unlock is called, so that
// test processes of several packages, started together by go test ./...,
// build the binary once rather than each their own.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}
