package s3test // import "github.com/acceltel/acceltel/internal/s3test"

import "syscall"

// sysProcAttr makes the kernel kill the server when the test process dies,
// even by SIGKILL, so no server outlives a crashed test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
