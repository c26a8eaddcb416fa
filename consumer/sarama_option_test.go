package consumer

import (
	"testing"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark"
)

// withFetchBytes sets sarama's per-partition fetch size through the escape
// hatch.
func withFetchBytes(n int32) Option {
	return WithSaramaConfig(func(sc *sarama.Config) { sc.Consumer.Fetch.Default = n })
}

func TestSaramaConfigIsValidatedAfterTheTweak(t *testing.T) {
	h := bulwark.HandlerFunc(nil)
	_, err := New([]string{"b:9092"}, "g", []string{"t"}, h,
		WithSaramaConfig(func(sc *sarama.Config) { sc.Consumer.Fetch.Default = 0 }))
	if err == nil {
		t.Fatal("an invalid sarama setting was accepted")
	}
	if _, err := New([]string{"b:9092"}, "g", []string{"t"}, h, WithSaramaConfig(nil)); err == nil {
		t.Fatal("nil tweak accepted")
	}
}
