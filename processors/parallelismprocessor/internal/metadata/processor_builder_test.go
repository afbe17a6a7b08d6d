package metadata

import "go.opentelemetry.io/collector/processor/processortest"

// settings is what the generated TestMetricsBuilder expects its template to
// have declared; for processors the template leaves it out (see
// NewMetricsBuilder).
var settings = processortest.NewNopSettings(processortest.NopType)
