package schema_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/schema"
)

func TestDecodeFailuresArePermanent(t *testing.T) {
	_, client := newRegistry(t)
	ctx := context.Background()
	serde := must(schema.NewAvroSerde(client, schema.WithSchema(goldenSchema)))
	good := must(serde.Serialize(ctx, "golden", false, map[string]any{"id": int64(5), "name": "abc", "ok": true}))
	cases := []struct {
		name  string
		data  []byte
		cause error
	}{
		{"empty", nil, schema.ErrWireFormat},
		{"shorter than the header", []byte{0, 0, 0}, schema.ErrWireFormat},
		{"wrong magic byte", append([]byte{1}, good[1:]...), schema.ErrWireFormat},
		{"unknown schema ID", append([]byte{0, 0, 0, 0x30, 0x39}, good[5:]...), schema.ErrSchemaNotFound},
		{"header only", good[:5], schema.ErrMalformedPayload},
		{"truncated body", good[:len(good)-2], schema.ErrMalformedPayload},
		{"trailing bytes", append(append([]byte{}, good...), 0x07), schema.ErrMalformedPayload},
		{"garbage string length", append(append([]byte{}, good[:6]...), 0x7f, 'x'), schema.ErrMalformedPayload},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := serde.Deserialize(ctx, "golden", false, tc.data)
			requirePermanentDecode(t, err, tc.cause)
		})
	}
}

// A huge array count in a few bytes is refused before goavro allocates for it.
func TestHugeBlockCountRefused(t *testing.T) {
	const s = `{"type":"record","name":"A","fields":[{"name":"xs","type":{"type":"array","items":"long"}},{"name":"m","type":{"type":"map","values":"null"}}]}`
	reg := &fakeRegistry{byID: map[int]string{1: s}}
	serde := must(schema.NewAvroSerde(reg))
	// Block count 2^31-2 (zigzag varint fc ff ff ff 0f), then nothing.
	_, err := serde.Deserialize(context.Background(), "t", false, []byte{0, 0, 0, 0, 1, 0xfc, 0xff, 0xff, 0xff, 0x0f})
	requirePermanentDecode(t, err, schema.ErrMalformedPayload)
	// A map of nulls takes one byte per key at least: the same holds.
	_, err = serde.Deserialize(context.Background(), "t", false, []byte{0, 0, 0, 0, 1, 0, 0xfc, 0xff, 0xff, 0xff, 0x0f})
	requirePermanentDecode(t, err, schema.ErrMalformedPayload)
}

func TestRegistryOutageIsPauseClass(t *testing.T) {
	srv := httptest.NewServer(fixedAnswer(503, `{"error_code":50001,"message":"store error"}`))
	defer srv.Close()
	client := must(schema.NewClient(srv.URL, schema.WithRetries(0)))
	defer client.Close()
	serde := must(schema.NewAvroSerde(client))
	_, err := serde.Deserialize(context.Background(), "t", false, []byte{0, 0, 0, 0, 1, 2})
	requireUnavailable(t, err)
	var re *schema.RegistryError
	if !errors.As(err, &re) || re.StatusCode != 503 {
		t.Fatalf("error %v does not carry the registry's 503 answer", err)
	}
}

func TestSubjectNameStrategies(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		strategy schema.SubjectNameStrategy
		isKey    bool
		want     string
	}{
		{"topic value", schema.TopicNameStrategy, false, "orders-value"},
		{"topic key", schema.TopicNameStrategy, true, "orders-key"},
		{"record", schema.RecordNameStrategy, false, "shop.Order"},
		{"topic record", schema.TopicRecordNameStrategy, false, "orders-shop.Order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, client := newRegistry(t)
			serde := must(schema.NewAvroSerde(client, schema.WithSchema(orderV1), schema.WithSubjectNameStrategy(tc.strategy)))
			must(serde.Serialize(ctx, "orders", tc.isKey, map[string]any{"orderId": "o", "amount": 1.0}))
			subjects := must(client.Subjects(ctx))
			if len(subjects) != 1 || subjects[0] != tc.want {
				t.Fatalf("subjects %v, want [%s]", subjects, tc.want)
			}
		})
	}
	_, client := newRegistry(t)
	serde := must(schema.NewAvroSerde(client, schema.WithSchema(`"string"`), schema.WithSubjectNameStrategy(schema.RecordNameStrategy)))
	if _, err := serde.Serialize(ctx, "orders", false, "x"); !errors.Is(err, schema.ErrInvalidConfig) {
		t.Fatalf("record strategy with an unnamed schema: %v", err)
	}
}

func TestAutoRegisterOff(t *testing.T) {
	_, client := newRegistry(t)
	ctx := context.Background()
	serde := must(schema.NewAvroSerde(client, schema.WithSchema(orderV1), schema.WithAutoRegister(false)))
	v := map[string]any{"orderId": "o", "amount": 1.0}
	if _, err := serde.Serialize(ctx, "orders", false, v); !errors.Is(err, schema.ErrSubjectNotFound) {
		t.Fatalf("unregistered subject: %v", err)
	}
	if subjects := must(client.Subjects(ctx)); len(subjects) != 0 {
		t.Fatalf("auto-register off registered %v", subjects)
	}
	id := must(client.Register(ctx, "orders-value", avroSchema(orderV1)))
	data := must(serde.Serialize(ctx, "orders", false, v))
	if got := int(data[1])<<24 | int(data[2])<<16 | int(data[3])<<8 | int(data[4]); got != id {
		t.Fatalf("wrote ID %d, want %d", got, id)
	}
}

func TestUseLatestVersion(t *testing.T) {
	srv, client := newRegistry(t)
	ctx := context.Background()
	v2 := `{"type":"record","name":"Order","namespace":"shop","fields":[
		{"name":"orderId","type":"string"},{"name":"amount","type":"double"},{"name":"note","type":"string","default":"-"}]}`
	must(client.Register(ctx, "orders-value", avroSchema(orderV1)))
	id2 := must(client.Register(ctx, "orders-value", avroSchema(v2)))

	// A v1 struct serde with use-latest writes v2 records, filling the new field's default.
	type OrderV1 struct {
		OrderID string  `avro:"orderId"`
		Amount  float64 `avro:"amount"`
	}
	serde := must(schema.NewStructSerde[OrderV1](client, orderV1, schema.WithUseLatestVersion(true)))
	before := srv.Requests()
	data := must(serde.Encode(ctx, "orders", false, OrderV1{OrderID: "o1", Amount: 3}))
	if got := int(data[1])<<24 | int(data[2])<<16 | int(data[3])<<8 | int(data[4]); got != id2 {
		t.Fatalf("wrote ID %d, want the latest %d", got, id2)
	}
	if versions := must(client.Versions(ctx, "orders-value")); len(versions) != 2 {
		t.Fatalf("use-latest registered something: versions %v", versions)
	}
	reader := must(schema.NewAvroSerde(client))
	v := must(reader.Deserialize(ctx, "orders", false, data)).(map[string]any)
	if v["note"] != "-" || v["orderId"] != "o1" {
		t.Fatalf("read %v", v)
	}
	must(serde.Encode(ctx, "orders", false, OrderV1{OrderID: "o2"}))
	// The latest version (once, by the serde) and the test's Versions call;
	// the reader finds the schema the latest call already cached by ID.
	if n := srv.Requests() - before; n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

func TestInvalidSerdeConfig(t *testing.T) {
	_, client := newRegistry(t)
	if _, err := schema.NewAvroSerde(client, schema.WithSchema(`{"type":"record"}`)); !errors.Is(err, schema.ErrInvalidConfig) || !errors.Is(err, schema.ErrInvalidSchema) {
		t.Errorf("bad schema: %v", err)
	}
	if _, err := schema.NewAvroSerde(nil); !errors.Is(err, schema.ErrInvalidConfig) {
		t.Errorf("nil registry: %v", err)
	}
	if _, err := schema.NewStructSerde[struct{}](client, `"int"`, schema.WithSchema(`"int"`)); !errors.Is(err, schema.ErrInvalidConfig) {
		t.Errorf("WithSchema on a struct serde: %v", err)
	}
	serde := must(schema.NewAvroSerde(client))
	if _, err := serde.Serialize(context.Background(), "t", false, 1); !errors.Is(err, schema.ErrInvalidConfig) {
		t.Errorf("serialize without a schema: %v", err)
	}
}

// Writers may give a block's byte size with a negative count (the Java
// writer does when it buffers blocks); the pre-decode scan accepts it.
func TestNegativeBlockCountWithSize(t *testing.T) {
	reg := &fakeRegistry{byID: map[int]string{1: `{"type":"array","items":"long"}`}}
	serde := must(schema.NewAvroSerde(reg))
	// count -2 (zigzag 0x03), block size 2 (0x04), items 1 and 2, end 0.
	v := must(serde.Deserialize(context.Background(), "t", false, []byte{0, 0, 0, 0, 1, 0x03, 0x04, 0x02, 0x04, 0x00}))
	if got := v.([]any); len(got) != 2 || got[0] != int64(1) || got[1] != int64(2) {
		t.Fatalf("decoded %v", v)
	}
}

// failingRegistry fails every call with err.
type failingRegistry struct{ err error }

func (f failingRegistry) Register(context.Context, string, schema.Schema) (int, error) {
	return 0, f.err
}
func (f failingRegistry) Lookup(context.Context, string, schema.Schema) (schema.Schema, error) {
	return schema.Schema{}, f.err
}
func (f failingRegistry) SchemaByID(context.Context, int) (schema.Schema, error) {
	return schema.Schema{}, f.err
}
func (f failingRegistry) LatestSchema(context.Context, string) (schema.Schema, error) {
	return schema.Schema{}, f.err
}

// Errors of any Registry implementation are classified alike: transport
// failures pause, answers about the schema are permanent, and a class the
// error declares is kept.
func TestRegistryErrorsOfAnyImplementationAreClassified(t *testing.T) {
	ctx := context.Background()
	record := []byte{0, 0, 0, 0, 1, 2}
	for name, tc := range map[string]struct {
		err   error
		class bulwark.Class
	}{
		"transport error":  {errors.New("read: connection reset by peer"), bulwark.ClassPause},
		"context deadline": {context.DeadlineExceeded, bulwark.ClassPause},
		"sentinel answer":  {fmt.Errorf("custom: %w", schema.ErrSchemaNotFound), bulwark.ClassPermanent},
		// Refused credentials are no fault of the record: pause, never
		// dead-letter.
		"401 answer":     {&schema.RegistryError{StatusCode: 401, Code: 401, Message: "unauthorized"}, bulwark.ClassPause},
		"403 answer":     {&schema.RegistryError{StatusCode: 403, Code: 403, Message: "forbidden"}, bulwark.ClassPause},
		"422 answer":     {&schema.RegistryError{StatusCode: 422, Code: 42201, Message: "invalid schema"}, bulwark.ClassPermanent},
		"declared class": {bulwark.Permanent(errors.New("custom refusal")), bulwark.ClassPermanent},
	} {
		t.Run(name, func(t *testing.T) {
			serde := must(schema.NewAvroSerde(failingRegistry{tc.err}, schema.WithSchema(goldenSchema)))
			_, decErr := serde.Deserialize(ctx, "t", false, record)
			_, encErr := serde.Serialize(ctx, "t", false, map[string]any{"id": int64(1), "name": "a", "ok": true})
			for _, err := range []error{decErr, encErr} {
				if got := bulwark.ClassOf(err); got != tc.class || !errors.Is(err, tc.err) {
					t.Errorf("error %v of class %v, want %v wrapping the registry's error", err, got, tc.class)
				}
				if tc.class == bulwark.ClassPause {
					requireUnavailable(t, err)
				}
			}
			if tc.class == bulwark.ClassPermanent {
				requirePermanentDecode(t, decErr, nil)
			}
		})
	}
}
