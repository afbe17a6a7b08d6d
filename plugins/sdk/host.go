package sdk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/acceltel/acceltel/plugins/sdk/proto/benchv1"
)

// HostConfig says how a host starts a plugin.
type HostConfig struct {
	Path string
	Args []string
	Env  []string // KEY=VALUE; the host's own environment is not passed on
	// SHA256 is the hex digest the binary must have; required unless
	// InsecureSkipChecksum, so a swapped binary is never run.
	SHA256               string
	InsecureSkipChecksum bool
	StartTimeout         time.Duration // 0: go-plugin's default (1m)
	Logger               hclog.Logger  // nil: discard the plugin's log
}

// Conn is a started plugin.
type Conn struct {
	client *plugin.Client
	rpc    pb.BenchmarkPluginClient
}

// ErrChecksum is returned when the binary's digest is not the configured one.
var ErrChecksum = errors.New("plugin checksum mismatch")

// FileSHA256 returns the hex SHA-256 of a file.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }() // read-only
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Open starts the plugin at cfg.Path and completes the handshake (gRPC only,
// AutoMTLS, checksum through go-plugin's SecureConfig).
func Open(cfg HostConfig) (*Conn, error) {
	var secure *plugin.SecureConfig
	if !cfg.InsecureSkipChecksum {
		want, err := hex.DecodeString(strings.ToLower(cfg.SHA256))
		if err != nil || len(want) != sha256.Size {
			return nil, fmt.Errorf("plugin %s: sha256 must be 64 hex digits (or set insecure_skip_checksum)", cfg.Path)
		}
		// go-plugin hashes the binary right before exec; hashing it here
		// too cost a fifth of a plugin's start (BenchmarkStart), so the
		// digest is computed again only to explain a mismatch.
		if _, err := os.Stat(cfg.Path); err != nil {
			return nil, fmt.Errorf("plugin %s: %w", cfg.Path, err)
		}
		secure = &plugin.SecureConfig{Checksum: want, Hash: sha256.New()}
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	cmd := exec.Command(cfg.Path, cfg.Args...)
	cmd.Env = cfg.Env
	setParentDeathSignal(cmd)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{ProtocolVersion: {PluginName: &grpcPlugin{}}},
		Cmd:              cmd,
		SkipHostEnv:      true,
		SecureConfig:     secure,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     cfg.StartTimeout,
		Logger:           logger,
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			got, herr := FileSHA256(cfg.Path)
			if herr != nil {
				got = "unreadable (" + herr.Error() + ")"
			}
			return nil, fmt.Errorf("%w: %s has sha256 %s, config expects %s", ErrChecksum, cfg.Path, got, cfg.SHA256)
		}
		return nil, fmt.Errorf("plugin %s: start: %w", cfg.Path, err)
	}
	raw, err := rpc.Dispense(PluginName)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("plugin %s: %w", cfg.Path, err)
	}
	return &Conn{client: client, rpc: raw.(pb.BenchmarkPluginClient)}, nil
}

// Describe asks the plugin what it is.
func (c *Conn) Describe(ctx context.Context) (Info, error) {
	r, err := c.rpc.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return Info{}, contextError(err)
	}
	return infoFromProto(r), nil
}

// Run runs one benchmark and calls emit for each measurement as it arrives.
func (c *Conn) Run(ctx context.Context, benchmark string, params map[string]string, emit func(Measurement)) error {
	stream, err := c.rpc.Run(ctx, &pb.RunRequest{Benchmark: benchmark, Parameters: params})
	if err != nil {
		return contextError(err)
	}
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return contextError(err)
		}
		emit(measurementFromProto(m))
	}
}

// contextError makes a call that ran out of time or was cancelled match
// context.DeadlineExceeded or context.Canceled with errors.Is. gRPC reports
// the deadline as a status, and its own timer (or the plugin's, through the
// grpc-timeout header) can fire before the caller's context says Done, so
// checking ctx.Err() alone misses some timeouts.
func contextError(err error) error {
	switch status.Code(err) {
	case codes.DeadlineExceeded:
		return fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	case codes.Canceled:
		return fmt.Errorf("%w: %w", context.Canceled, err)
	}
	return err
}

// Exited reports whether the plugin process has ended.
func (c *Conn) Exited() bool { return c.client.Exited() }

// Kill ends the plugin: gracefully if it answers, else by force after 2s.
func (c *Conn) Kill() { c.client.Kill() }
