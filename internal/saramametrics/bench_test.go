package saramametrics_test

import (
	"testing"

	"github.com/bulwarkgo/bulwark/internal/saramametrics"
	"github.com/rcrowley/go-metrics"
)

// BenchmarkPerRequest does what sarama's broker does to its registry for
// one request and its response (broker.go: the client-wide and the
// per-broker copy of request rate and size, bytes out, in flight, latency,
// response rate, size and bytes in, and the per-API request rate), with
// go-metrics' standard registry (sarama's default) and with this one.
func BenchmarkPerRequest(b *testing.B) {
	for _, c := range []struct {
		name string
		reg  func() metrics.Registry
	}{
		{"standard", func() metrics.Registry { return metrics.NewRegistry() }},
		{"bridged", func() metrics.Registry { return saramametrics.NewRegistry() }},
	} {
		b.Run(c.name, func(b *testing.B) {
			reg := c.reg()
			defer reg.UnregisterAll()
			hist := func(name string) metrics.Histogram {
				return reg.GetOrRegister(name, func() metrics.Histogram {
					return metrics.NewHistogram(metrics.NewExpDecaySample(1028, 0.015))
				}).(metrics.Histogram)
			}
			var meters []metrics.Meter
			var hists []metrics.Histogram
			var counters []metrics.Counter
			for _, suffix := range []string{"", "-for-broker-1"} {
				for _, n := range []string{"request-rate", "outgoing-byte-rate", "response-rate", "incoming-byte-rate", "protocol-requests-rate-0"} {
					meters = append(meters, metrics.GetOrRegisterMeter(n+suffix, reg))
				}
				for _, n := range []string{"request-size", "request-latency-in-ms", "response-size"} {
					hists = append(hists, hist(n+suffix))
				}
				counters = append(counters, metrics.GetOrRegisterCounter("requests-in-flight"+suffix, reg))
			}
			b.ReportAllocs()
			for b.Loop() {
				for _, m := range meters {
					m.Mark(100)
				}
				for _, h := range hists {
					h.Update(100)
				}
				for _, c := range counters {
					c.Inc(1)
					c.Dec(1)
				}
			}
		})
	}
}
