package pipeline

import (
	"github.com/bulwarkgo/bulwark/examples/orders/events"
	"github.com/bulwarkgo/bulwark/schema"
	"github.com/bulwarkgo/bulwark/schema/schematest"
)

// newCodec returns the Avro codec over the registry at cfg.Registry, or
// over an in-memory registry when none is given, and a function releasing
// it.
func newCodec(cfg Config) (events.Codec, func(), error) {
	url, stop := cfg.Registry, func() {}
	if url == "" {
		srv := schematest.NewServer()
		url, stop = srv.URL(), srv.Close
	}
	client, err := schema.NewClient(url)
	if err != nil {
		stop()
		return nil, nil, err
	}
	codec, err := events.NewAvro(client)
	if err != nil {
		client.Close()
		stop()
		return nil, nil, err
	}
	return codec, func() { client.Close(); stop() }, nil
}
