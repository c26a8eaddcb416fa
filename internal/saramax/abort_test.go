package saramax_test

import (
	"net"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/saramax"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAbortCutsABlockedClient(t *testing.T) {
	verifyNoLeaks(t)
	addr := kafkatest.NeverAnswering(t)
	s, err := conn.Build()
	require.NoError(t, err)
	cfg, err := saramax.NewConfig(s)
	require.NoError(t, err)
	aborter := saramax.MakeAbortable(cfg)
	require.NoError(t, saramax.Validate(cfg))

	done := make(chan error, 1)
	go func() {
		client, err := sarama.NewClient([]string{addr}, cfg)
		if err == nil {
			_ = client.Close()
		}
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // let it connect and block on the read
	aborter.Abort()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.ErrorIs(t, err, sarama.ErrOutOfBrokers)
	case <-time.After(15 * time.Second):
		t.Fatal("the client did not return after Abort")
	}
	// New dials are refused at once.
	_, err = aborter.Dial("tcp", addr)
	assert.ErrorIs(t, err, saramax.ErrAborted)
}

func TestMakeAbortableKeepsACustomDialer(t *testing.T) {
	addr := kafkatest.NeverAnswering(t)
	var dialed []string
	d := dialerFunc(func(network, address string) (net.Conn, error) {
		dialed = append(dialed, address)
		return net.Dial(network, address)
	})
	s, err := conn.Build(conn.WithDialer(d))
	require.NoError(t, err)
	cfg, err := saramax.NewConfig(s)
	require.NoError(t, err)
	aborter := saramax.MakeAbortable(cfg)
	c, err := aborter.Dial("tcp", addr)
	require.NoError(t, err)
	require.NoError(t, c.Close())
	assert.Equal(t, []string{addr}, dialed)
}

type dialerFunc func(network, address string) (net.Conn, error)

func (f dialerFunc) Dial(network, address string) (net.Conn, error) { return f(network, address) }
