//go:build !linux

package s3test // import "github.com/acceltel/acceltel/internal/s3test"

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
