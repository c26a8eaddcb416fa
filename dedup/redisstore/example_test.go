package redisstore_test

import (
	"log"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/dedup"
	"github.com/bulwarkgo/bulwark/dedup/redisstore"
	"github.com/redis/go-redis/v9"
)

// Deduplicating a consumer's handler across processes with Redis.
func Example() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close()

	store, err := redisstore.New(client, redisstore.WithPrefix("orders:dedup:"))
	if err != nil {
		log.Fatal(err)
	}
	d, err := dedup.New(store)
	if err != nil {
		log.Fatal(err)
	}
	var handler bulwark.Handler // the side effect to run once per message ID
	_ = d.Wrap(handler)         // hand this to the consumer
}

// Many workers in one process share the client's autopipeliner, which
// batches their commands into one round trip.
func Example_autoPipeline() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer client.Close() // stops the autopipeliner too

	ap, err := client.AutoPipeline()
	if err != nil {
		log.Fatal(err)
	}
	store, err := redisstore.New(ap, redisstore.WithPrefix("orders:dedup:"))
	if err != nil {
		log.Fatal(err)
	}
	_ = store
}
