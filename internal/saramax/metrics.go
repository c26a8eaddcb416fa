package saramax

import (
	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/internal/saramametrics"
	"github.com/bulwarkgo/bulwark/internal/telemetry"
	"go.opentelemetry.io/otel/metric"
)

// BridgeMetrics reports the broker figures sarama keeps for the clients
// of client's config ([NewConfig] gives each config a
// [saramametrics.Registry]) through mp, the otel global when nil, naming
// client by its client ID and each broker by its ID and address. Call stop
// once client (and any other client of the config) is closed. A registry
// the user set through the sarama escape hatch is left alone (stop is a
// no-op).
func BridgeMetrics(client sarama.Client, brokers []string, mp metric.MeterProvider) (stop func(), err error) {
	cfg := client.Config()
	return saramametrics.Bridge(cfg.MetricRegistry, mp, telemetry.Client(brokers, cfg.ClientID), func() map[int32]string {
		known := map[int32]string{}
		for _, b := range client.Brokers() {
			known[b.ID()] = b.Addr()
		}
		return known
	})
}
