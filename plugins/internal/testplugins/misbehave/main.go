// Command misbehave is a test plugin that misbehaves on request, so the SDK,
// the receiver and the CLI can be tested against crashes, hangs, garbage on
// stdout and a foreign protocol version with a real process.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/acceltel/acceltel/plugins/sdk"
)

type misbehave struct{}

func (misbehave) Describe(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "misbehave", Version: "test", Benchmarks: []sdk.Benchmark{
		{Name: "ok", Parameters: []sdk.Parameter{{Name: "value", Type: sdk.Double, Default: "42"}}},
		{Name: "empty", Description: "Sends nothing: the round trip of a Run alone."},
		{Name: "hang", Description: "Sleeps through its context, as a wedged driver call would."},
		{Name: "crash", Description: "Sends one measurement, then exits with status 3."},
		{Name: "needs_cuda", RequiredCapabilities: []string{"cuda"}},
	}}, nil
}

func (misbehave) Run(ctx context.Context, name string, p sdk.Params, emit func(sdk.Measurement) error) error {
	switch name {
	case "ok", "needs_cuda":
		return emit(sdk.Measurement{Name: "test.value", Unit: "1", Value: p.Double("value"), Peak: 84,
			Attributes: map[string]string{"pid": fmt.Sprint(os.Getpid())}, Duration: time.Millisecond})
	case "hang":
		time.Sleep(time.Hour)
	case "crash":
		_ = emit(sdk.Measurement{Name: "test.value", Unit: "1", Value: 1})
		time.Sleep(50 * time.Millisecond) // let the measurement reach the host
		os.Exit(3)
	}
	return nil
}

func main() {
	switch os.Getenv("MISBEHAVE_MODE") {
	case "garbage":
		fmt.Println("this is not a go-plugin handshake")
		time.Sleep(time.Second)
		os.Exit(1)
	case "protocol2":
		hs := sdk.Handshake
		hs.ProtocolVersion = 2
		plugin.Serve(&plugin.ServeConfig{HandshakeConfig: hs, GRPCServer: plugin.DefaultGRPCServer,
			Plugins: plugin.PluginSet{}})
		return
	}
	sdk.Serve(misbehave{})
}
