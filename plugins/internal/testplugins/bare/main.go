// Command bare is a go-plugin plugin without acceltel's SDK: the same
// handshake settings (gRPC, AutoMTLS, checksum on the host side) and no
// service of its own: its one RPC is the gRPC health check that go-plugin
// itself serves in every plugin. The SDK's benchmarks measure against it
// what the SDK adds to a plugin's start and to a call.
package main

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Handshake is what a host of this plugin must use.
var Handshake = plugin.HandshakeConfig{ProtocolVersion: 1, MagicCookieKey: "ACCELTEL_BARE_PLUGIN", MagicCookieValue: "bare"}

// Plugin registers nothing: go-plugin has registered the health service.
type Plugin struct{ plugin.NetRPCUnsupportedPlugin }

// GRPCServer adds no service.
func (Plugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }

// GRPCClient returns a health client.
func (Plugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return healthpb.NewHealthClient(c), nil
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{"bare": Plugin{}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}
