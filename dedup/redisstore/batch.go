package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bulwarkgo/bulwark/dedup"
	"github.com/redis/go-redis/v9"
)

// ClaimMany claims keys in one round trip (one script run on a single
// server, a pipeline on a ring or cluster); result i belongs to keys[i].
// It is Claim for many keys at once, for callers that handle records in
// batches: the round trip, not Redis, bounds a single claim.
// Busy results carry no Remaining. The error is that of the round trip; a
// failed round trip may still have claimed some keys, whose leases then
// expire on their own.
func (s *Store) ClaimMany(ctx context.Context, keys []string, lease time.Duration) ([]dedup.Claim, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	if _, single := s.client.(*redis.Client); single {
		out, err := s.claimScripted(ctx, keys, lease)
		if err != nil && isNoScript(err) {
			// Redis lost its script cache: load it and claim again. Keys
			// claimed by the failed run cannot exist (it did not run).
			if lerr := claimManyScript.Load(ctx, s.client).Err(); lerr != nil {
				return nil, opError("claim many: load script", lerr)
			}
			out, err = s.claimScripted(ctx, keys, lease)
		}
		if err != nil {
			return nil, opError("claim many", err)
		}
		return out, nil
	}
	return s.claimPipeline(ctx, keys, lease)
}

// claimManyScript claims several keys in one script run (on a single
// server, where all keys live together): KEYS are the keys, ARGV[1] the
// lease in ms, ARGV[i+1] the token of KEYS[i]. Per key it returns the
// value found ("" when the key was free and is now ours). One script run
// per batch costs Redis and the client far less than a command per key.
var claimManyScript = redis.NewScript(`
local out = {}
for i, k in ipairs(KEYS) do
	local v = redis.call('SET', k, 'L' .. ARGV[i + 1], 'NX', 'GET', 'PX', ARGV[1])
	if v then out[i] = v else out[i] = '' end
end
return out`)

func (s *Store) claimScripted(ctx context.Context, keys []string, lease time.Duration) ([]dedup.Claim, error) {
	toks := make([]dedup.Token, len(keys))
	full := make([]string, len(keys))
	args := make([]any, len(keys)+1)
	args[0] = millis(lease)
	for i, key := range keys {
		toks[i] = newToken()
		full[i] = s.prefix + key
		args[i+1] = string(toks[i])
	}
	res, err := claimManyScript.EvalSha(ctx, s.client, full, args...).StringSlice()
	if err != nil {
		return nil, err
	}
	if len(res) != len(keys) {
		return nil, fmt.Errorf("claim script returned %d results for %d keys", len(res), len(keys))
	}
	out := make([]dedup.Claim, len(keys))
	for i, old := range res {
		var rerr error
		if old == "" {
			rerr = redis.Nil
		}
		if out[i], err = claimResult(toks[i], old, rerr); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Store) claimPipeline(ctx context.Context, keys []string, lease time.Duration) ([]dedup.Claim, error) {
	toks := make([]dedup.Token, len(keys))
	cmds := make([]*redis.StatusCmd, len(keys))
	args := claimArgs(lease)
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, key := range keys {
			toks[i] = newToken()
			cmds[i] = p.SetArgs(ctx, s.prefix+key, leasedMark+string(toks[i]), args)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, opError("claim many", err)
	}
	out := make([]dedup.Claim, len(keys))
	for i, cmd := range cmds {
		if out[i], err = claimResult(toks[i], cmd.Val(), cmd.Err()); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// confirmManyScript confirms several keys in one script run: KEYS are the
// keys, ARGV[1] the retention in ms, ARGV[i+1] the token of KEYS[i]. It
// returns one 1 (confirmed) or 0 (lost) per key. Running the script once
// per batch instead of once per key saves most of Redis's per-call script
// overhead.
var confirmManyScript = redis.NewScript(`
local out = {}
for i, k in ipairs(KEYS) do
	local tok = ARGV[i + 1]
	local v = redis.call('GET', k)
	if v and v ~= 'L' .. tok and v ~= 'D' .. tok then
		out[i] = 0
	else
		redis.call('SET', k, 'D' .. tok, 'PX', ARGV[1])
		out[i] = 1
	end
end
return out`)

// ConfirmMany confirms leases in one round trip. The slice holds one entry
// per lease: nil or [dedup.ErrLeaseLost]. The error is that of the round
// trip. On a single Redis server (*redis.Client) it is one script run for
// the whole batch; on a cluster or ring, whose keys live on different
// nodes, a pipeline of per-key confirms.
func (s *Store) ConfirmMany(ctx context.Context, leases []dedup.Lease, ttl time.Duration) ([]error, error) {
	if len(leases) == 0 {
		return nil, nil
	}
	run := s.confirmPipeline
	if _, single := s.client.(*redis.Client); single {
		run = s.confirmScripted
	}
	ok, err := run(ctx, leases, ttl)
	if err != nil && isNoScript(err) {
		// Redis lost its script cache (restart, SCRIPT FLUSH): load the
		// scripts and run the batch again, which is safe as confirming twice
		// with the same token is idempotent.
		if lerr := confirmScript.Load(ctx, s.client).Err(); lerr != nil {
			return nil, opError("confirm many: load script", lerr)
		}
		if lerr := confirmManyScript.Load(ctx, s.client).Err(); lerr != nil {
			return nil, opError("confirm many: load script", lerr)
		}
		ok, err = run(ctx, leases, ttl)
	}
	if err != nil {
		return nil, opError("confirm many", err)
	}
	out := make([]error, len(leases))
	for i := range leases {
		if !ok[i] {
			out[i] = dedup.ErrLeaseLost
		}
	}
	return out, nil
}

func (s *Store) confirmScripted(ctx context.Context, leases []dedup.Lease, ttl time.Duration) ([]bool, error) {
	keys := make([]string, len(leases))
	args := make([]any, len(leases)+1)
	args[0] = millis(ttl)
	for i, l := range leases {
		keys[i] = s.prefix + l.Key
		args[i+1] = string(l.Token)
	}
	res, err := confirmManyScript.EvalSha(ctx, s.client, keys, args...).Int64Slice()
	if err != nil {
		return nil, err
	}
	if len(res) != len(leases) {
		return nil, fmt.Errorf("confirm script returned %d results for %d keys", len(res), len(leases))
	}
	ok := make([]bool, len(res))
	for i, n := range res {
		ok[i] = n == 1
	}
	return ok, nil
}

func (s *Store) confirmPipeline(ctx context.Context, leases []dedup.Lease, ttl time.Duration) ([]bool, error) {
	cmds := make([]*redis.Cmd, len(leases))
	ms := millis(ttl)
	_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, l := range leases {
			cmds[i] = confirmScript.EvalSha(ctx, p, []string{s.prefix + l.Key}, string(l.Token), ms)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ok := make([]bool, len(cmds))
	for i, cmd := range cmds {
		n, _ := cmd.Int()
		ok[i] = n == 1
	}
	return ok, nil
}

func isNoScript(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") }
