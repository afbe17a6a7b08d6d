package configcheck

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/batchprocessor"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

// settings uses a few core components; the full distribution is tested by cmd/acceltel.
func settings(t *testing.T) Settings {
	t.Helper()
	var f otelcol.Factories
	var err error
	f.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory())
	require.NoError(t, err)
	f.Processors, err = otelcol.MakeFactoryMap[processor.Factory](batchprocessor.NewFactory())
	require.NoError(t, err)
	f.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](debugexporter.NewFactory())
	require.NoError(t, err)
	f.Telemetry = otelconftelemetry.NewFactory()
	return Settings{
		Factories: f,
		Providers: []confmap.ProviderFactory{envprovider.NewFactory(), fileprovider.NewFactory(), yamlprovider.NewFactory()},
		BuildInfo: component.NewDefaultBuildInfo(),
	}
}

func TestValid(t *testing.T) {
	assert.Empty(t, Check(context.Background(), []string{"testdata/valid.yaml"}, settings(t)))
}

func TestEveryProblemWithItsLine(t *testing.T) {
	probs := Check(context.Background(), []string{"testdata/misspelt.yaml"}, settings(t))
	got := make([]string, len(probs))
	for i, p := range probs {
		got[i] = p.String()
	}
	assert.ElementsMatch(t, []string{
		`testdata/misspelt.yaml:4:7: receivers::otlp::protocols::grcp: unknown key 'grcp'`,
		`testdata/misspelt.yaml:7:3: processors::batch: send_batch_max_size must be greater or equal to send_batch_size`,
		`testdata/misspelt.yaml:10:3: processors::batchh: unknown processor type "batchh" (did you mean "batch"?) (this distribution has: batch)`,
		`testdata/misspelt.yaml:14:5: exporters::debug::sampling_initial: expected type 'int', got unconvertible type 'string'`,
	}, got)
}

func TestPipelineReferenceFromCollector(t *testing.T) {
	probs := Check(context.Background(), []string{"testdata/unreferenced.yaml"}, settings(t))
	require.Len(t, probs, 1)
	assert.Equal(t, "service::pipelines::metrics", probs[0].Path)
	assert.Contains(t, probs[0].Msg, `references exporter "otlp" which is not configured`)
	assert.Equal(t, 9, probs[0].Line)
}

func TestLaterFileWins(t *testing.T) {
	probs := Check(context.Background(), []string{"testdata/valid.yaml", "file:testdata/override.yaml"}, settings(t))
	require.Len(t, probs, 1)
	assert.Equal(t, "testdata/override.yaml:3:5: exporters::debug::verbosityy: unknown key 'verbosityy'", probs[0].String())
}

func TestUnreadableConfig(t *testing.T) {
	probs := Check(context.Background(), []string{"testdata/missing.yaml"}, settings(t))
	require.Len(t, probs, 1)
	assert.Contains(t, probs[0].Msg, "no such file")

	probs = Check(context.Background(), []string{"yaml:receivers: [unclosed"}, settings(t))
	require.Len(t, probs, 1)
	assert.NotEmpty(t, probs[0].Msg)
}

func TestUnknownTopLevelKey(t *testing.T) {
	probs := Check(context.Background(), []string{"testdata/valid.yaml", "yaml:servce: {}"}, settings(t))
	require.Len(t, probs, 1)
	assert.Equal(t, `servce: unknown top-level key (did you mean "service"?)`, probs[0].String())
}

func TestSuggest(t *testing.T) {
	assert.Equal(t, ` (did you mean "prometheus"?)`, suggest("promethues", []string{"otlp", "prometheus", "kafka"}))
	assert.Empty(t, suggest("zzzzzz", []string{"otlp", "kafka"}))
}

// The OTLP receiver unmarshals its protocols itself, so mapstructure reports
// those fields relative to each protocol; the paths must still be whole.
func TestNestedUnmarshalers(t *testing.T) {
	probs := Check(context.Background(), []string{"testdata/nested.yaml"}, settings(t))
	got := make([]string, len(probs))
	for i, p := range probs {
		got[i] = p.String()
	}
	assert.ElementsMatch(t, []string{
		`testdata/nested.yaml:6:9: receivers::otlp::protocols::grpc::max_recv_msg_size_mibb: unknown key 'max_recv_msg_size_mibb'`,
		`testdata/nested.yaml:9:13: receivers::otlp::protocols::grpc::keepalive::server_parameters::time: time: invalid duration`,
		`testdata/nested.yaml:11:9: receivers::otlp::protocols::http::endpointt: unknown key 'endpointt'`,
	}, got)
}

type twoProblems struct{}

func (twoProblems) Validate() error {
	return errors.Join(errors.New("first problem"), errors.New("second problem"))
}

// A component whose Validate joins several errors gets one problem per error.
func TestJoinedValidateErrors(t *testing.T) {
	set := settings(t)
	f := processor.NewFactory(component.MustNewType("two"), func() component.Config { return &twoProblems{} },
		processor.WithMetrics(func(context.Context, processor.Settings, component.Config, consumer.Metrics) (processor.Metrics, error) {
			return nil, nil
		}, component.StabilityLevelDevelopment))
	set.Factories.Processors[f.Type()] = f
	probs := Check(context.Background(), []string{"testdata/valid.yaml", "yaml:processors::two: {}"}, set)
	got := make([]string, len(probs))
	for i, p := range probs {
		got[i] = p.Path + ": " + p.Msg
	}
	assert.ElementsMatch(t, []string{"processors::two: first problem", "processors::two: second problem"}, got)
}
