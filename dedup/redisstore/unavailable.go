package redisstore

import (
	"errors"

	"github.com/bulwarkgo/bulwark/dedup"
	"github.com/redis/go-redis/v9"
)

// unavailableReplies are the error replies with which a Redis server says
// it cannot serve anyone now, whatever the key: loading its data set after
// a restart, a replica or a cluster without a master, a script hogging it,
// out of memory or unable to persist, too many clients, and the
// authentication and ACL failures of a rotated password. None says
// anything about the record, so none may dead-letter it.
var unavailableReplies = []string{
	"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "NOREPLICAS",
	"BUSY", "OOM", "MISCONF", "max number of clients reached",
	"NOAUTH", "WRONGPASS", "NOPERM",
}

// unavailable reports whether err says Redis is unavailable: what
// [dedup.IsUnavailable] says of every store (network errors, EOF,
// timeouts), a closed client or a pool that gave no connection in time,
// and the replies above. This is the store's one place for it.
func unavailable(err error) bool {
	if dedup.IsUnavailable(err) || errors.Is(err, redis.ErrClosed) ||
		errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrPoolExhausted) {
		return true
	}
	for _, p := range unavailableReplies {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}

// opError is the store's error for a failed op: a pause-class
// [dedup.UnavailableError] when Redis is unavailable.
func opError(op string, err error) error { return dedup.OpError("redisstore", op, err, unavailable) }
