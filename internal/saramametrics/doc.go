// Package saramametrics bridges the broker figures sarama keeps in its
// go-metrics registry (sarama.Config.MetricRegistry) into OpenTelemetry:
// requests, responses, request time, bytes each way, throttle time and
// requests in flight, per broker. [Registry] is the registry sarama
// writes to, one per config, with exact totals for those figures and
// do-nothing metrics for the rest; [Bridge] reports a Registry through
// observable instruments read at collection time, until its stop.
package saramametrics
