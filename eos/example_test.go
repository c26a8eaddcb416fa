package eos_test

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/eos"
	"github.com/bulwarkgo/bulwark/kafkatest"
)

// Upper-case every record of "words" into "shouted", exactly once.
func Example() {
	c, err := kafkatest.Start(kafkatest.WithBrokers(1), kafkatest.WithTopic("words", 1), kafkatest.WithTopic("shouted", 1))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	if err := produceRange(c, "words", 0, 3, 3); err != nil {
		panic(err)
	}

	shout := eos.HandlerFunc(func(_ context.Context, in *bulwark.Message, out eos.Emitter) error {
		out.Emit(&bulwark.Message{Topic: "shouted", Key: in.Key, Value: bytes.ToUpper(in.Value)})
		return nil
	})
	s, err := eos.New(c.Brokers(), "shouter", []string{"words"}, "shouter", shout,
		eos.WithInstanceID("replica-0"), eos.WithSessionTimeout(6*time.Second))
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	for {
		offs, _ := c.CommittedOffsets(ctx, "shouter", "words")
		if offs[0] == 3 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		panic(err)
	}
	out, _ := c.ReadTopic(context.Background(), "shouted", kafkatest.ReadCommitted())
	for _, m := range out {
		fmt.Println(string(m.Value))
	}
	fmt.Println(s.TransactionalID())
	// Output:
	// K000:000000
	// K001:000000
	// K002:000000
	// shouter-replica-0
}
