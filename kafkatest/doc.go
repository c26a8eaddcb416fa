// Package kafkatest runs an in-process, Kafka-compatible cluster on loopback
// (franz-go's kfake: the real Kafka protocol, with transactions, consumer
// groups, SASL and TLS) for tests and for programs that want an embedded
// default.
//
// In a test:
//
//	c := kafkatest.NewCluster(t, kafkatest.WithTopic("orders", 6))
//	p, _ := producer.New(c.Brokers())
//	...
//	records, err := c.ReadTopic(ctx, "orders", kafkatest.ReadCommitted())
//
// In a program: Start returns the cluster and Close stops it.
//
// Fault injection: [Cluster.InjectFault] and [Cluster.FailNext] fail requests
// with a Kafka error, [Cluster.HoldNext] holds one request until released,
// [Cluster.MoveLeader] / [Cluster.ShuffleLeaders] move partition leaders,
// [Cluster.StopBroker] / [Cluster.RestartBroker] drop a broker and bring it
// back, and a [Dialer] cuts a client's connections the way a crash would.
//
// Everything bulwark does also runs against a real cluster: nothing here is
// needed outside tests and demos.
package kafkatest
