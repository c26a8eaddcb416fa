package saramagroup

import (
	"context"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/saramax"
)

// Connect is [New] bounded by ctx and s.ConnectTimeout, as
// [saramax.Connect] bounds any sarama call, with its errors explained.
func Connect(ctx context.Context, brokers []string, group string, config *Config, s conn.Settings) (*Group, error) {
	// New copies the config it is given for each of its clients; cutting
	// the one saramax.Connect gives cuts them all while they connect.
	return saramax.Connect(ctx, brokers, config.sarama, s,
		func(cut *sarama.Config) (*Group, error) {
			return New(brokers, group, &Config{sarama: cut, meters: config.meters})
		},
		func(g *Group) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = g.Close(ctx)
		})
}
