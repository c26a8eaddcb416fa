// Package txnsession is the Kafka side of eos: a consumer group (sarama)
// whose partitions start from stable offsets (KIP-447) and hand each
// generation's records to one callback, and a transactional producer (the
// internal/produce engine) that commits outputs together with the group's
// offsets and group metadata. Nothing it exports carries a sarama type, so
// eos stays free of them.
package txnsession
