// Package fleet drives the gateway role (distributions/otelcol-acceltel/
// gateway.yaml) with a simulated GPU fleet through Kafka and measures what
// the gateway costs: CPU per data point and memory, with the full processor
// chain and with reference pipelines side by side, and the highest rate it
// sustains without a growing backlog. TestFleet is a smoke test of a few
// seconds by default and the full measurement with -fleet, which writes its
// results into testbed/README.md; BenchmarkGateway splits the chain's cost
// in-process. testbed/README.md says how to read the figures.
package fleet
