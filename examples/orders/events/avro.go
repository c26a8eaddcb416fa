package events

import (
	"context"
	"fmt"
	"reflect"

	"github.com/bulwarkgo/bulwark/schema"
)

// Avro schemas of the events. Each topic holds one event type, so the
// default subject strategy (topic name: "<topic>-value") gives each topic
// its own subject and compatibility history.
const (
	OrderCreatedSchema = `{"type":"record","name":"OrderCreated","namespace":"bulwark.orders","fields":[
		{"name":"order_id","type":"string"},
		{"name":"customer_id","type":"string"},
		{"name":"sku","type":"string"},
		{"name":"quantity","type":"int"},
		{"name":"amount_cents","type":"long"},
		{"name":"created_at","type":{"type":"long","logicalType":"timestamp-millis"}}]}`
	InventoryReservedSchema = `{"type":"record","name":"InventoryReserved","namespace":"bulwark.orders","fields":[
		{"name":"order_id","type":"string"},
		{"name":"sku","type":"string"},
		{"name":"quantity","type":"int"},
		{"name":"amount_cents","type":"long"}]}`
	InventoryRejectedSchema = `{"type":"record","name":"InventoryRejected","namespace":"bulwark.orders","fields":[
		{"name":"order_id","type":"string"},
		{"name":"sku","type":"string"},
		{"name":"quantity","type":"int"},
		{"name":"reason","type":"string"}]}`
	InventoryReleaseSchema = `{"type":"record","name":"InventoryRelease","namespace":"bulwark.orders","fields":[
		{"name":"order_id","type":"string"},
		{"name":"reason","type":"string"}]}`
	PaymentCompletedSchema = `{"type":"record","name":"PaymentCompleted","namespace":"bulwark.orders","fields":[
		{"name":"order_id","type":"string"},
		{"name":"amount_cents","type":"long"},
		{"name":"charge_id","type":"string"}]}`
	PaymentFailedSchema = `{"type":"record","name":"PaymentFailed","namespace":"bulwark.orders","fields":[
		{"name":"order_id","type":"string"},
		{"name":"reason","type":"string"}]}`
	ShippingScheduledSchema = `{"type":"record","name":"ShippingScheduled","namespace":"bulwark.orders","fields":[
		{"name":"order_id","type":"string"},
		{"name":"carrier","type":"string"},
		{"name":"delivery_day","type":{"type":"long","logicalType":"timestamp-millis"}}]}`
	StockRecordSchema = `{"type":"record","name":"StockRecord","namespace":"bulwark.orders","fields":[
		{"name":"sku","type":"string"},
		{"name":"initial","type":"long","default":0},
		{"name":"available","type":"long","default":0},
		{"name":"order_id","type":"string","default":""},
		{"name":"quantity","type":"int","default":0},
		{"name":"state","type":"string","default":""}]}`
)

// Avro is the Codec of the pipeline: Avro values in the Confluent wire
// format (magic byte, schema ID, Avro binary), their schemas registered in a
// schema registry on first use.
type Avro struct {
	serdes map[reflect.Type]avroSerde
}

type avroSerde interface {
	encode(ctx context.Context, topic string, v any) ([]byte, error)
	decode(ctx context.Context, topic string, data []byte, v any) error
}

type typedSerde[T any] struct{ s *schema.StructSerde[T] }

func (t typedSerde[T]) encode(ctx context.Context, topic string, v any) ([]byte, error) {
	return t.s.Encode(ctx, topic, false, v.(T))
}

func (t typedSerde[T]) decode(ctx context.Context, topic string, data []byte, v any) error {
	x, err := t.s.Decode(ctx, topic, false, data)
	if err != nil {
		return err // a *schema.DecodeError is of the permanent class
	}
	*(v.(*T)) = x
	return nil
}

func add[T any](a *Avro, reg schema.Registry, schemaText string) error {
	s, err := schema.NewStructSerde[T](reg, schemaText)
	if err != nil {
		return err
	}
	a.serdes[reflect.TypeFor[T]()] = typedSerde[T]{s}
	return nil
}

// NewAvro returns the codec over reg (a *schema.Client).
func NewAvro(reg schema.Registry) (*Avro, error) {
	a := &Avro{serdes: map[reflect.Type]avroSerde{}}
	for _, err := range []error{
		add[OrderCreated](a, reg, OrderCreatedSchema),
		add[InventoryReserved](a, reg, InventoryReservedSchema),
		add[InventoryRejected](a, reg, InventoryRejectedSchema),
		add[InventoryRelease](a, reg, InventoryReleaseSchema),
		add[PaymentCompleted](a, reg, PaymentCompletedSchema),
		add[PaymentFailed](a, reg, PaymentFailedSchema),
		add[ShippingScheduled](a, reg, ShippingScheduledSchema),
		add[StockRecord](a, reg, StockRecordSchema),
	} {
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Encode serializes v, an event value (not a pointer).
func (a *Avro) Encode(ctx context.Context, topic string, v any) ([]byte, error) {
	s, ok := a.serdes[reflect.TypeOf(v)]
	if !ok {
		return nil, fmt.Errorf("events: no Avro schema for %T", v)
	}
	return s.encode(ctx, topic, v)
}

// Decode deserializes data into v, a pointer to an event.
func (a *Avro) Decode(ctx context.Context, topic string, data []byte, v any) error {
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer {
		return fmt.Errorf("events: Decode needs a pointer, got %T", v)
	}
	s, ok := a.serdes[t.Elem()]
	if !ok {
		return fmt.Errorf("events: no Avro schema for %s", t.Elem())
	}
	return s.decode(ctx, topic, data, v)
}
