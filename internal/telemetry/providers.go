package telemetry

import (
	"reflect"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
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

// Messaging semantic-convention attribute keys: semconv v1.43.0's, the
// newest version go.opentelemetry.io/otel (the module's version in go.mod)
// ships. Newer conventions (1.45) rename some (messaging.system.name,
// kafka.offset); moving to them is a breaking change for dashboards.
const (
	MessagingSystem            = semconv.MessagingSystemKey
	MessagingOperationType     = semconv.MessagingOperationTypeKey
	MessagingOperationName     = semconv.MessagingOperationNameKey
	MessagingDestinationName   = semconv.MessagingDestinationNameKey
	MessagingDestinationPart   = semconv.MessagingDestinationPartitionIDKey
	MessagingConsumerGroupName = semconv.MessagingConsumerGroupNameKey
	MessagingClientID          = semconv.MessagingClientIDKey
	MessagingMessageID         = semconv.MessagingMessageIDKey
	MessagingKafkaMessageKey   = semconv.MessagingKafkaMessageKeyKey
	MessagingKafkaOffset       = semconv.MessagingKafkaOffsetKey
	MessagingBatchCount        = semconv.MessagingBatchMessageCountKey
	ServerAddress              = semconv.ServerAddressKey
	ServerPort                 = semconv.ServerPortKey
	ErrorType                  = semconv.ErrorTypeKey
)

// SystemKafka is the messaging.system attribute every span and messaging
// metric carries.
var SystemKafka = semconv.MessagingSystemKafka
