package conn

import (
	"net"
	"strconv"
)

// CheckBrokers reports the first broker address that cannot work: none at
// all, an empty one, or one without a host and a port ("kafka:9092",
// "10.0.0.7:9092", "[::1]:9092"). sarama would accept them and fail at the
// first connection with an unhelpful error, or not at all. The error is a
// [*SettingError] for the setting "brokers".
func CheckBrokers(brokers []string) error {
	if len(brokers) == 0 {
		return invalid("brokers", "no broker addresses given")
	}
	for _, b := range brokers {
		host, port, err := net.SplitHostPort(b)
		if err != nil {
			return invalidCause("brokers", err, "%q is not of the form host:port", b)
		}
		if host == "" {
			return invalid("brokers", "%q has no host", b)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return invalid("brokers", "%q has no valid port", b)
		}
	}
	return nil
}
