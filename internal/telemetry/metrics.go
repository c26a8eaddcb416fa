package telemetry

import (
	"net"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The OpenTelemetry messaging metrics (semconv v1.43.0) the feature
// packages emit, under these names and units; the packages export them as
// their Metric* constants. Metrics with no semantic convention are named
// bulwark.<package>.*.
const (
	MetricSentMessages      = "messaging.client.sent.messages"      // {message}
	MetricConsumedMessages  = "messaging.client.consumed.messages"  // {message}
	MetricOperationDuration = "messaging.client.operation.duration" // s
	MetricProcessDuration   = "messaging.process.duration"          // s
)

// The messaging.operation.name values (Kafka's, from the Kafka semantic
// conventions) and their messaging.operation.type.
const (
	OperationSend    = "send"    // type send
	OperationPoll    = "poll"    // type receive
	OperationProcess = "process" // type process
	OperationCommit  = "commit"  // type settle
)

// DurationBuckets are the advisory bucket boundaries, in seconds, of every
// duration histogram: 0.5 ms to 10 s, about three per decade. The SDK's
// default boundaries (0, 5, 10, 25 ... 10000) suit milliseconds, so with
// seconds every duration under 5 s would fall into one bucket. A view in
// the meter provider overrides them.
var DurationBuckets = []float64{
	0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075,
	0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
}

// DurationHistogram makes a histogram of durations in seconds with
// [DurationBuckets].
func DurationHistogram(m metric.Meter, name, description string) (metric.Float64Histogram, error) {
	return m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(description),
		metric.WithExplicitBucketBoundaries(DurationBuckets...))
}

// CountBuckets are the advisory bucket boundaries of histograms of counts
// (records per transaction, say): 1 to 10000, in steps of 1-2.5-5.
var CountBuckets = []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}

// Client returns the attributes naming a Kafka client in every messaging
// metric and span: messaging.system, messaging.client.id, and
// server.address and server.port of the first bootstrap broker (a client
// talks to every broker; the semantic conventions ask for the address the
// application configured, and this is the one it names first). An address
// that does not split into host and port gives server.address alone.
func Client(brokers []string, clientID string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{SystemKafka}
	if clientID != "" {
		attrs = append(attrs, MessagingClientID.String(clientID))
	}
	if len(brokers) == 0 {
		return attrs
	}
	return append(attrs, Server(brokers[0])...)
}

// Server returns server.address and server.port of a broker's address
// ("host:port"); an address that does not split gives server.address
// alone.
func Server(addr string) []attribute.KeyValue {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return []attribute.KeyValue{ServerAddress.String(addr)}
	}
	attrs := []attribute.KeyValue{ServerAddress.String(host)}
	if n, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, ServerPort.Int(n))
	}
	return attrs
}

// Operation returns the messaging.operation.name and .type attributes of a
// Kafka operation ([OperationSend] and the others).
func Operation(name string) []attribute.KeyValue {
	typ := name
	switch name {
	case OperationPoll:
		typ = "receive"
	case OperationCommit:
		typ = "settle"
	}
	return []attribute.KeyValue{MessagingOperationName.String(name), MessagingOperationType.String(typ)}
}
