package saramagroup_test

import (
	"testing"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/internal/saramagroup"
	"github.com/stretchr/testify/require"
)

// Settings.Eager picks the sticky (eager) strategy; the default is
// cooperative-sticky.
func TestConfigureStrategyFollowsEager(t *testing.T) {
	for _, tc := range []struct {
		eager bool
		name  string
	}{
		{false, sarama.CooperativeStickyBalanceStrategyName},
		{true, sarama.StickyBalanceStrategyName},
	} {
		cfg := sarama.NewConfig()
		saramagroup.Configure(cfg, saramagroup.Settings{Eager: tc.eager})
		got := cfg.Consumer.Group.Rebalance.GroupStrategies
		require.Len(t, got, 1, "eager=%v", tc.eager)
		require.Equal(t, tc.name, got[0].Name(), "eager=%v", tc.eager)
	}
}
