package sdk_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os/exec"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/acceltel/acceltel/plugins/plugintest"
	"github.com/acceltel/acceltel/plugins/sdk"
)

// The SDK's cost is measured against a bare go-plugin pair in the same
// run: the same go-plugin settings (gRPC only, AutoMTLS, checksum), and as
// its RPCs the gRPC health check that go-plugin serves in every plugin
// (unary) and a hand-written server-streaming RPC of one message.
//
//	go test -run '^$' -bench 'Start|Run|Call' -count 6 ./plugins/sdk/ | benchstat -col /host -

// BenchmarkStart measures a plugin's start: checksum, exec, AutoMTLS
// handshake and the first RPC (Describe; the health check for the bare
// plugin), then Kill.
func BenchmarkStart(b *testing.B) {
	b.Run("host=bare", func(b *testing.B) {
		bin, sum := plugintest.Build(b, plugintest.Bare)
		for b.Loop() {
			client, conn := openBare(b, bin, sum)
			if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
				b.Fatal(err)
			}
			client.Kill()
		}
	})
	b.Run("host=sdk", func(b *testing.B) {
		bin, sum := plugintest.Build(b, plugintest.Misbehave)
		for b.Loop() {
			c, err := sdk.Open(sdk.HostConfig{Path: bin, SHA256: sum})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Describe(context.Background()); err != nil {
				b.Fatal(err)
			}
			c.Kill()
		}
	})
}

// BenchmarkRun measures one call's round trip: a one-measurement Run,
// which the plugin side checks against Describe first, against the bare
// plugin's server-streaming RPC of one message, the same shape on the
// wire. BenchmarkCall's host=bare, in the same run, is the unary baseline:
// what a call costs that is not a stream.
func BenchmarkRun(b *testing.B) { benchRun(b, "ok", 1) }

// BenchmarkRunEmpty is the "empty Run": a Run that sends no
// measurement, against the same bare stream of one message (a stricter
// baseline than an empty stream).
func BenchmarkRunEmpty(b *testing.B) { benchRun(b, "empty", 0) }

// benchRun runs the misbehave plugin's benchmark, which sends want
// measurements, against the bare plugin's stream of one message.
func benchRun(b *testing.B, benchmark string, want int) {
	b.Run("host=bare", func(b *testing.B) {
		bin, sum := plugintest.Build(b, plugintest.Bare)
		client, conn := openBare(b, bin, sum)
		defer client.Kill()
		for b.Loop() {
			if err := bareStream(context.Background(), conn); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("host=sdk", func(b *testing.B) {
		bin, sum := plugintest.Build(b, plugintest.Misbehave)
		c, err := sdk.Open(sdk.HostConfig{Path: bin, SHA256: sum})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Kill()
		for b.Loop() {
			got := 0
			if err := c.Run(context.Background(), benchmark, nil, func(sdk.Measurement) { got++ }); err != nil {
				b.Fatal(err)
			}
			if got != want {
				b.Fatalf("%s sent %d measurements, want %d", benchmark, got, want)
			}
		}
	})
}

// bareStreamDesc and the method name match the service of the bare plugin.
var bareStreamDesc = grpc.StreamDesc{StreamName: "One", ServerStreams: true}

// bareStream calls the bare plugin's server-streaming RPC as the generated
// client of Run does, and reads it to its end as sdk.Conn.Run does.
func bareStream(ctx context.Context, conn *grpc.ClientConn) error {
	s, err := conn.NewStream(ctx, &bareStreamDesc, "/acceltel.bare.Stream/One", grpc.StaticMethod())
	if err != nil {
		return err
	}
	x := &grpc.GenericClientStream[healthpb.HealthCheckRequest, healthpb.HealthCheckResponse]{ClientStream: s}
	if err := x.SendMsg(&healthpb.HealthCheckRequest{}); err != nil {
		return err
	}
	if err := x.CloseSend(); err != nil {
		return err
	}
	for {
		_, err := x.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// BenchmarkCall compares one unary call: the SDK's Describe against the
// bare plugin's health check, both empty requests.
func BenchmarkCall(b *testing.B) {
	b.Run("host=bare", func(b *testing.B) {
		bin, sum := plugintest.Build(b, plugintest.Bare)
		client, conn := openBare(b, bin, sum)
		defer client.Kill()
		health := healthpb.NewHealthClient(conn)
		for b.Loop() {
			if _, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("host=sdk", func(b *testing.B) {
		bin, sum := plugintest.Build(b, plugintest.Misbehave)
		c, err := sdk.Open(sdk.HostConfig{Path: bin, SHA256: sum})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Kill()
		for b.Loop() {
			if _, err := c.Describe(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

type barePlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (barePlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("host side only")
}

func (barePlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return c, nil
}

func openBare(b *testing.B, bin, sum string) (*plugin.Client, *grpc.ClientConn) {
	b.Helper()
	want, err := hex.DecodeString(sum)
	if err != nil {
		b.Fatal(err)
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  plugin.HandshakeConfig{ProtocolVersion: 1, MagicCookieKey: "ACCELTEL_BARE_PLUGIN", MagicCookieValue: "bare"},
		Plugins:          plugin.PluginSet{"bare": barePlugin{}},
		Cmd:              exec.Command(bin),
		SkipHostEnv:      true,
		SecureConfig:     &plugin.SecureConfig{Checksum: want, Hash: sha256.New()},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Logger:           hclog.NewNullLogger(),
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		b.Fatal(err)
	}
	raw, err := rpc.Dispense("bare")
	if err != nil {
		client.Kill()
		b.Fatal(err)
	}
	return client, raw.(*grpc.ClientConn)
}
