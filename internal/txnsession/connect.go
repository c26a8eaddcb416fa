package txnsession

import (
	"context"
	"log/slog"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/saramax"
)

// ConnectProducer is [NewProducer] bounded by ctx and s.ConnectTimeout,
// with its errors explained (saramax.Connect).
func ConnectProducer(ctx context.Context, brokers []string, cfg *sarama.Config, s conn.Settings) (*Producer, error) {
	return saramax.Connect(ctx, brokers, cfg, s, func(cut *sarama.Config) (*Producer, error) {
		return NewProducer(ctx, brokers, cut)
	}, func(p *Producer) { _ = p.Close() })
}

// ConnectGroup is [NewGroup] bounded the same way.
func ConnectGroup(ctx context.Context, brokers []string, cfg *sarama.Config, s conn.Settings, group string, topics []string, hooks Hooks, log *slog.Logger) (*Group, error) {
	return saramax.Connect(ctx, brokers, cfg, s, func(cut *sarama.Config) (*Group, error) {
		return NewGroup(brokers, cut, group, topics, hooks, log)
	}, func(g *Group) { _ = g.Close() })
}
