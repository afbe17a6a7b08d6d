package ebpfreceiver // import "github.com/acceltel/acceltel/receivers/ebpfreceiver"

import (
	"errors"
	"fmt"
	"os"
)

// errNoBTF is returned without touching bpf(2) when the kernel has no BTF.
var errNoBTF = errors.New("kernel BTF not found at /sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF); CO-RE programs cannot load")

// explain adds the capability hint to a permission error.
func explain(err error) error {
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%w (needs root, or CAP_BPF and CAP_PERFMON, and CAP_SYS_RESOURCE before Linux 5.11)", err)
	}
	return err
}
