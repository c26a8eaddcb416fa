// Package telemetry holds what the feature packages share for
// OpenTelemetry: the carrier that puts W3C trace context into record
// headers, provider fallbacks to the otel globals, the messaging
// semantic-convention metric and attribute names (semconv v1.43.0), the
// bucket boundaries of duration histograms, and the attributes naming a
// Kafka client. Package telemetrytest reads what tests record.
package telemetry
