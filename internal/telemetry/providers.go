package telemetry

import (
	"reflect"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Scope is the instrumentation scope name prefix; packages append their own
// name ("github.com/bulwarkgo/bulwark/producer").
const Scope = "github.com/bulwarkgo/bulwark"

// TracerProvider returns tp, or the global provider when tp is nil.
func TracerProvider(tp trace.TracerProvider) trace.TracerProvider {
	if tp == nil {
		return otel.GetTracerProvider()
	}
	return tp
}

// UnsetGlobal reports whether tp is otel's global delegating provider as
// it is before a program sets its own (what otel.GetTracerProvider returns
// until then). Spans it starts do nothing, so a caller may skip starting
// them when there is no trace context to propagate either; once a program
// sets a provider, otel.GetTracerProvider returns that one instead, which
// the caller must check on every use. otel exports no way to tell, so this
// looks at the type's package; if otel moves it, this reports false and
// spans simply start as before.
func UnsetGlobal(tp trace.TracerProvider) bool {
	t := reflect.TypeOf(tp)
	if t == nil || t.Kind() != reflect.Pointer {
		return false
	}
	return t.Elem().PkgPath() == "go.opentelemetry.io/otel/internal/global" &&
		tp == TracerProvider(nil)
}

// MeterProvider returns mp, or the global provider when mp is nil.
func MeterProvider(mp metric.MeterProvider) metric.MeterProvider {
	if mp == nil {
		return otel.GetMeterProvider()
	}
	return mp
}

// Messaging semantic-convention attribute keys (OpenTelemetry semconv for
// messaging systems), written out so we do not pin a semconv version.
const (
	MessagingSystem            = attribute.Key("messaging.system")
	MessagingOperationType     = attribute.Key("messaging.operation.type")
	MessagingOperationName     = attribute.Key("messaging.operation.name")
	MessagingDestinationName   = attribute.Key("messaging.destination.name")
	MessagingDestinationPart   = attribute.Key("messaging.destination.partition.id")
	MessagingConsumerGroupName = attribute.Key("messaging.consumer.group.name")
	MessagingMessageID         = attribute.Key("messaging.message.id")
	MessagingKafkaMessageKey   = attribute.Key("messaging.kafka.message.key")
	MessagingKafkaOffset       = attribute.Key("messaging.kafka.offset")
	MessagingBatchCount        = attribute.Key("messaging.batch.message_count")
	ErrorType                  = attribute.Key("error.type")
)

// SystemKafka is the messaging.system attribute every span carries.
var SystemKafka = MessagingSystem.String("kafka")
