package metadata

import "go.opentelemetry.io/collector/processor/processortest"

// settings is what the generated metrics tests expect for a receiver; see
// NewMetricsBuilder.
var settings = processortest.NewNopSettings(processortest.NopType)
