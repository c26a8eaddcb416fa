// Package saramax is the only place that builds a *sarama.Config or converts
// between sarama's types and bulwark's. Producer, consumer and eos start from
// [NewConfig] so that connection settings (client ID, version, TLS, SASL,
// dialer) land once for all of them.
package saramax
