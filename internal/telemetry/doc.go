// Package telemetry holds what producer, consumer and eos share for
// OpenTelemetry: the carrier that puts W3C trace context into record
// headers, provider fallbacks to the otel globals, and the messaging
// semantic-convention attribute names.
package telemetry
