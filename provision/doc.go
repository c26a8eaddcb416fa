// Package provision creates the Kafka topics a service needs when it
// starts, and checks the ones that exist.
//
// A service declares its topics and calls [Ensure] before it starts
// producing or consuming:
//
//	report, err := provision.Ensure(ctx, brokers, []provision.Topic{
//		{Name: "orders", Partitions: 12, ReplicationFactor: 3, Configs: map[string]string{
//			"min.insync.replicas": "2",
//			"retention.ms":        "604800000",
//		}},
//		{Name: "customers", Partitions: 6, ReplicationFactor: 3, Configs: map[string]string{
//			"cleanup.policy": "compact",
//		}},
//	}, provision.WithConnection(conn.WithSASL(conn.SASLSCRAMSHA512, "orders-api", password)))
//
// Missing topics are created; existing ones are never changed. When an
// existing topic differs from its declaration (fewer or more partitions,
// another replication factor, a declared config with another value) Ensure
// returns a [*DriftError] listing every difference, or, with
// [WithDriftAsWarning], logs them and carries on. Adding partitions or
// altering configs stays an operator's decision: adding partitions moves
// keys to other partitions, and a config may have been changed on purpose.
//
// Ensure is safe to run from several instances at once; instances that lose
// the race to create a topic check it like an existing one.
package provision
