package nvmlreceiver // import "github.com/acceltel/acceltel/receivers/nvmlreceiver"

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/acceltel/acceltel/receivers/nvmlreceiver/internal/metadata"
)

// Config is the configuration of the nvml receiver.
type Config struct {
	scraperhelper.ControllerConfig `mapstructure:",squash"`
	metadata.MetricsBuilderConfig  `mapstructure:",squash"`

	// LibraryPath is the NVML library to load; empty means libnvidia-ml.so.1
	// from the loader's search path. Set it where the driver's libraries are
	// mounted somewhere else, as in a container without the NVIDIA runtime hook.
	LibraryPath string `mapstructure:"library_path"`

	// Devices limits the receiver to these GPUs, each a UUID (GPU-...) or an
	// NVML index; empty means all.
	Devices []string `mapstructure:"devices"`

	// RootPath is the host filesystem root, as in hostmetrics: "/hostfs" in a
	// DaemonSet with hostPID that mounts the host's / there. A GPU process's
	// cgroup is read at <root_path>/proc/<pid>/cgroup.
	RootPath string `mapstructure:"root_path"`

	// PodResourcesSocket is the kubelet's pod-resources socket, used to name
	// the pod each GPU is assigned to; empty turns the lookup off, and a
	// socket that does not exist is normal off Kubernetes.
	PodResourcesSocket string `mapstructure:"pod_resources_socket"`

	// XIDEvents turns on the goroutine that waits for XID error events.
	XIDEvents bool `mapstructure:"xid_events"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.LibraryPath != "" && !filepath.IsAbs(cfg.LibraryPath) {
		errs = append(errs, fmt.Errorf("library_path must be absolute, got %q", cfg.LibraryPath))
	}
	if cfg.RootPath != "" && !filepath.IsAbs(cfg.RootPath) {
		errs = append(errs, fmt.Errorf("root_path must be absolute, got %q", cfg.RootPath))
	}
	if cfg.PodResourcesSocket != "" && !filepath.IsAbs(cfg.PodResourcesSocket) {
		errs = append(errs, fmt.Errorf("pod_resources_socket must be absolute, got %q", cfg.PodResourcesSocket))
	}
	for _, d := range cfg.Devices {
		if strings.HasPrefix(d, "GPU-") {
			continue
		}
		if i, err := strconv.Atoi(d); err != nil || i < 0 {
			errs = append(errs, fmt.Errorf("devices: %q is neither a GPU UUID nor an index", d))
		}
	}
	return errors.Join(errs...)
}
