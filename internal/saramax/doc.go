// Package saramax is the only place that builds a *sarama.Config or converts
// between sarama's types and bulwark's. Producer, consumer and eos start from
// [NewConfig] so that connection settings (client ID, version, TLS, SASL,
// dialer) land once for all of them. [Reader] is the one partition reader
// of the packages outside the sarama layer (table follows partitions with
// it, outbox reads ranges of them).
package saramax
