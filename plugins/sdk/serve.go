package sdk

import (
	"context"
	"fmt"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/acceltel/acceltel/plugins/sdk/proto/benchv1"
)

// Serve runs impl as a plugin; call it from main. It returns only when the
// host ends the plugin. Run the binary by hand and it explains that it is a
// plugin, since go-plugin checks the handshake cookie.
func Serve(impl Plugin) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{
			ProtocolVersion: {PluginName: &grpcPlugin{impl: impl}},
		},
		GRPCServer: plugin.DefaultGRPCServer,
	})
}

// grpcPlugin binds the Go interface to the v1 gRPC service for go-plugin.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl Plugin
}

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterBenchmarkPluginServer(s, &server{impl: p.impl})
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return pb.NewBenchmarkPluginClient(c), nil
}

type server struct {
	pb.UnimplementedBenchmarkPluginServer
	impl Plugin
}

func (s *server) Describe(ctx context.Context, _ *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	info, err := s.impl.Describe(ctx)
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return infoToProto(info), nil
}

func (s *server) Run(req *pb.RunRequest, stream grpc.ServerStreamingServer[pb.Measurement]) error {
	ctx := stream.Context()
	info, err := s.impl.Describe(ctx)
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	b, ok := info.Find(req.GetBenchmark())
	if !ok {
		return status.Errorf(codes.NotFound, "plugin %s has no benchmark %q", info.Name, req.GetBenchmark())
	}
	params, err := CheckParams(b, req.GetParameters())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	err = s.impl.Run(ctx, b.Name, params, func(m Measurement) error {
		return stream.Send(measurementToProto(m))
	})
	if err != nil {
		return status.Error(codes.Unknown, fmt.Sprintf("benchmark %s: %v", b.Name, err))
	}
	return nil
}
