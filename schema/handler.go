package schema

import (
	"context"

	"github.com/bulwarkgo/bulwark"
)

// Decoder decodes a record's value into a T. [*StructSerde] is one.
type Decoder[T any] interface {
	Decode(ctx context.Context, topic string, isKey bool, data []byte) (T, error)
}

// Handler returns a bulwark.Handler that decodes each record's value with
// d and calls h with it, so a handler works on its type instead of calling
// the serde itself. When decoding fails h is not called and the decoder's
// error is returned with its class: a record that cannot be decoded is
// permanent (a consumer dead-letters it), a registry that is unavailable
// pauses the partition.
func Handler[T any](d Decoder[T], h func(ctx context.Context, msg *bulwark.Message, value T) error) bulwark.Handler {
	return bulwark.HandlerFunc(func(ctx context.Context, msg *bulwark.Message) error {
		v, err := d.Decode(ctx, msg.Topic, false, msg.Value)
		if err != nil {
			return err
		}
		return h(ctx, msg, v)
	})
}
