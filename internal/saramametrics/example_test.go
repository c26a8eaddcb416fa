package saramametrics_test

import (
	"context"
	"fmt"

	"github.com/bulwarkgo/bulwark/internal/saramametrics"
	"github.com/rcrowley/go-metrics"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func Example() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	reg := saramametrics.NewRegistry() // what saramax.NewConfig puts in MetricRegistry
	stop, err := saramametrics.Bridge(reg, mp, nil, nil)
	if err != nil {
		panic(err)
	}
	defer stop()

	// What sarama does for broker 1's requests.
	metrics.GetOrRegisterMeter("request-rate-for-broker-1", reg).Mark(3)

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(context.Background(), &rm)
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if m.Name == saramametrics.MetricRequests {
			fmt.Println(m.Name, m.Data.(metricdata.Sum[int64]).DataPoints[0].Value)
		}
	}
	// Output: bulwark.kafka.broker.requests 3
}
