package conn

// The broker-level metrics of every client the producer, consumer, eos,
// table and outbox packages open: sarama's own per-broker figures,
// reported through the package's meter provider (WithMeterProvider where
// the package has one, else the otel global) as observable instruments
// read at collection time, while the client is open. OpenTelemetry's
// semantic conventions name no Kafka client broker metrics, so these are
// bulwark's. Every data point carries messaging.system ("kafka"),
// messaging.client.id, [AttrBrokerID] and, while the client knows the
// broker, server.address and server.port of that broker. Clients with
// the same client ID in one program add up: give each its own
// ([WithClientID]) to tell them apart.
//
// sarama measures latencies and throttle times in whole milliseconds, so
// a request answered in under 1 ms adds nothing to
// [MetricBrokerRequestTime]. The bootstrap connections that fetch the
// first metadata are not counted (sarama keeps no per-broker figures for
// them).
const (
	// MetricBrokerRequests counts requests sent to the broker ({request}).
	MetricBrokerRequests = "bulwark.kafka.broker.requests"
	// MetricBrokerResponses counts responses read from the broker
	// ({response}).
	MetricBrokerResponses = "bulwark.kafka.broker.responses"
	// MetricBrokerRequestTime adds up the time from sending each request to
	// reading its response (s); divided by [MetricBrokerResponses], the
	// mean latency.
	MetricBrokerRequestTime = "bulwark.kafka.broker.request.time"
	// MetricBrokerIO counts bytes sent (network.io.direction "transmit")
	// and received ("receive") (By).
	MetricBrokerIO = "bulwark.kafka.broker.io"
	// MetricBrokerThrottleTime adds up the throttle times the broker asked
	// for in its responses (s): quotas at work.
	MetricBrokerThrottleTime = "bulwark.kafka.broker.throttle.time"
	// MetricBrokerActiveRequests is the number of requests awaiting their
	// response ({request}).
	MetricBrokerActiveRequests = "bulwark.kafka.broker.active_requests"

	// AttrBrokerID is the attribute naming the broker by its node ID.
	AttrBrokerID = "bulwark.kafka.broker.id"
)
