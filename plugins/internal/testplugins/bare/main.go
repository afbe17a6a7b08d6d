// Command bare is a go-plugin plugin without acceltel's SDK: the same
// handshake settings (gRPC, AutoMTLS, checksum on the host side) and two
// RPCs, the gRPC health check that go-plugin itself serves in every plugin
// (unary) and Stream.One below (server-streaming, like the SDK's Run). The
// SDK's benchmarks measure against it what the SDK adds to a plugin's start
// and to a call.
package main

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Handshake is what a host of this plugin must use.
var Handshake = plugin.HandshakeConfig{ProtocolVersion: 1, MagicCookieKey: "ACCELTEL_BARE_PLUGIN", MagicCookieValue: "bare"}

// stream is a server-streaming RPC, /acceltel.bare.Stream/One, that answers
// a HealthCheckRequest with one HealthCheckResponse and ends: the shape of
// an SDK Run of one measurement. It is written by hand, with the health
// messages, so that the baseline needs no generated code of its own.
var stream = grpc.ServiceDesc{
	ServiceName: "acceltel.bare.Stream",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName:    "One",
		ServerStreams: true,
		Handler: func(_ any, s grpc.ServerStream) error {
			var req healthpb.HealthCheckRequest
			if err := s.RecvMsg(&req); err != nil {
				return err
			}
			return s.SendMsg(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING})
		},
	}},
}

// Plugin adds the stream service to go-plugin's health service.
type Plugin struct{ plugin.NetRPCUnsupportedPlugin }

// GRPCServer registers the stream service.
func (Plugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	s.RegisterService(&stream, nil)
	return nil
}

// GRPCClient returns the connection: a host calls both services on it.
func (Plugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return c, nil
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{"bare": Plugin{}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}
