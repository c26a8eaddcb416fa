package redisstore

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/bulwarkgo/bulwark"
	"github.com/bulwarkgo/bulwark/dedup"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
)

// reply is a Redis error reply, as go-redis returns them.
type reply string

func (r reply) Error() string { return string(r) }
func (reply) RedisError()     {}

func TestUnavailableClassifiesWhatRedisSays(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{io.EOF, true},
		{redis.ErrClosed, true},
		{fmt.Errorf("get conn: %w", redis.ErrPoolTimeout), true},
		{reply("LOADING Redis is loading the dataset in memory"), true},
		{reply("READONLY You can't write against a read only replica."), true},
		{reply("CLUSTERDOWN The cluster is down"), true},
		{reply("BUSY Redis is busy running a script."), true},
		{reply("OOM command not allowed when used memory > 'maxmemory'."), true},
		{reply("ERR max number of clients reached"), true},
		{reply("NOAUTH Authentication required."), true},
		{reply("WRONGPASS invalid username-password pair or user is disabled."), true},
		{reply("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{reply("ERR syntax error"), false},
		{errors.New("something else"), false},
	} {
		assert.Equal(t, tc.want, unavailable(tc.err), "%v", tc.err)
		err := opError("claim", tc.err)
		assert.ErrorIs(t, err, tc.err)
		if tc.want {
			assert.Equal(t, bulwark.ClassPause, bulwark.ClassOf(err), "%v", tc.err)
			assert.ErrorIs(t, err, dedup.ErrUnavailable)
		} else {
			assert.Equal(t, bulwark.ClassRetryable, bulwark.ClassOf(err), "%v", tc.err)
			assert.EqualError(t, err, "redisstore: claim: "+tc.err.Error())
		}
	}
}
