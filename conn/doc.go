// Package conn holds the connection settings shared by the producer, consumer
// and eos packages: client ID, Kafka protocol version, timeouts, a custom
// dialer, the client's rack and security (TLS, SASL PLAIN, SCRAM-SHA-256,
// SCRAM-SHA-512 and OAUTHBEARER).
//
// Each of those packages takes them through its own WithConnection option:
//
//	p, err := producer.New(brokers, producer.WithConnection(
//		conn.WithClientID("orders-api"),
//		conn.WithTLSFiles("/etc/kafka/ca.pem", "/etc/kafka/client.pem", "/etc/kafka/client-key.pem"),
//		conn.WithSASL(conn.SASLSCRAMSHA512, "orders-api", os.Getenv("KAFKA_PASSWORD")),
//		conn.WithRackID("eu-west-1a"),
//	))
//
// Settings are validated once, when the producer, consumer or session is
// created ([Build]); a bad setting fails New with a [*SettingError] wrapping
// [ErrInvalidSettings]. Certificate files are read and checked at that point
// too, so a wrong path or a key that does not match its certificate shows at
// start, not at the first connection.
//
// When the settings are well formed but the cluster refuses them (a wrong
// password, an untrusted certificate), the failure comes back as a
// [*ConnectError] matching [ErrAuthentication], [ErrTLS] or [ErrUnreachable].
package conn
