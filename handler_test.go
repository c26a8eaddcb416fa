package bulwark_test

import (
	"context"
	"testing"

	"github.com/bulwarkgo/bulwark"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func tag(name string, trace *[]string) bulwark.Middleware {
	return func(next bulwark.Handler) bulwark.Handler {
		return bulwark.HandlerFunc(func(ctx context.Context, m *bulwark.Message) error {
			*trace = append(*trace, name+">")
			err := next.Handle(ctx, m)
			*trace = append(*trace, "<"+name)
			return err
		})
	}
}

func TestChainOrder(t *testing.T) {
	var trace []string
	h := bulwark.Chain(tag("a", &trace), nil, tag("b", &trace))(bulwark.HandlerFunc(
		func(context.Context, *bulwark.Message) error { trace = append(trace, "h"); return nil }))
	require.NoError(t, h.Handle(context.Background(), &bulwark.Message{}))
	assert.Equal(t, []string{"a>", "b>", "h", "<b", "<a"}, trace)
}

func TestEmptyChainIsIdentity(t *testing.T) {
	called := false
	h := bulwark.Chain()(bulwark.HandlerFunc(func(context.Context, *bulwark.Message) error { called = true; return nil }))
	require.NoError(t, h.Handle(context.Background(), &bulwark.Message{}))
	assert.True(t, called)
}
