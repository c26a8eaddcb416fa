package events

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/bulwarkgo/bulwark"
)

// Codec turns events into record values and back. Decode failures are of
// the permanent class: a record that cannot be read will not read better on
// a retry, so consumers dead-letter it.
type Codec interface {
	Encode(ctx context.Context, topic string, v any) ([]byte, error)
	Decode(ctx context.Context, topic string, data []byte, v any) error
}

// JSON is a Codec without a schema registry (plain JSON values).
type JSON struct{}

// Encode marshals v as JSON.
func (JSON) Encode(_ context.Context, _ string, v any) ([]byte, error) { return json.Marshal(v) }

// Decode unmarshals data into v; a malformed value is a permanent error.
func (JSON) Decode(_ context.Context, topic string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return bulwark.Permanent(fmt.Errorf("decode %s record: %w", topic, err))
	}
	return nil
}
