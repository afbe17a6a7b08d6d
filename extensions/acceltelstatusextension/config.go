package acceltelstatusextension // import "github.com/acceltel/acceltel/extensions/acceltelstatusextension"

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// DefaultPort is the status page's port on the loopback interface.
const DefaultPort = 8787

// Config is the configuration of the acceltelstatus extension.
type Config struct {
	// Endpoint is host:port to serve on; loopback by default, since the
	// page shows the fleet's names and costs and has no authentication.
	Endpoint string `mapstructure:"endpoint"`
	// Window is how much recent time the page shows.
	Window time.Duration `mapstructure:"window"`
	// Columns is how many time columns the window is cut into (its
	// resolution: 1 h in 120 columns is 30 s each).
	Columns int `mapstructure:"columns"`
	// MaxSeries caps the series held; points of further series are
	// dropped (and counted on the page) until older ones expire.
	MaxSeries int `mapstructure:"max_series"`

	// prevent unkeyed literal initialization
	_ struct{}
}

func createDefaultConfig() *Config {
	return &Config{
		Endpoint:  net.JoinHostPort("127.0.0.1", strconv.Itoa(DefaultPort)),
		Window:    time.Hour,
		Columns:   120,
		MaxSeries: 10_000,
	}
}

// Validate reports every bad setting at once.
func (c *Config) Validate() error {
	var errs []error
	if host, port, err := net.SplitHostPort(c.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("endpoint %q is not host:port: %w", c.Endpoint, err))
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		errs = append(errs, fmt.Errorf("endpoint %q: port must be a number from 0 to 65535", c.Endpoint))
	} else if host == "" {
		errs = append(errs, fmt.Errorf("endpoint %q has no host: write 0.0.0.0:%s to listen on every interface on purpose", c.Endpoint, port))
	}
	if c.Window < time.Minute || c.Window > 24*time.Hour {
		errs = append(errs, fmt.Errorf("window %s must be from 1m to 24h", c.Window))
	}
	if c.Columns < 10 || c.Columns > 2000 {
		errs = append(errs, fmt.Errorf("columns %d must be from 10 to 2000", c.Columns))
	}
	if c.MaxSeries < 1 || c.MaxSeries > 1_000_000 {
		errs = append(errs, fmt.Errorf("max_series %d must be from 1 to 1000000", c.MaxSeries))
	}
	return errors.Join(errs...)
}
