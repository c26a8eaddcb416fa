package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/backoff"
	"github.com/bulwarkgo/bulwark/internal/clock"
	"github.com/bulwarkgo/bulwark/internal/saramax"
)

// Report says what [Ensure] found and did.
type Report struct {
	// Created lists the topics this call created, in declaration order.
	Created []string
	// Existing lists the topics that existed already (from an earlier run,
	// or created meanwhile by a concurrent caller) and were left as they
	// were, whether they match their declaration or not.
	Existing []string
	// Drift lists every difference between an existing topic and its
	// declaration; empty when everything matches. It is filled whether
	// drift is returned as a [*DriftError] or only logged.
	Drift []Difference
}

// Ensure makes sure every declared topic exists: it creates the missing
// ones, leaves existing ones untouched, and compares those with their
// declaration. Differences (partition count, replication factor, declared
// configs) are returned as a [*DriftError] matching [ErrDrift], or only
// logged with [WithDriftAsWarning]; Ensure never alters an existing topic.
//
// Several services may call Ensure for the same topics at the same time:
// the one that loses the race to create a topic treats it as existing and
// checks it like any other.
//
// A bad declaration or option fails before connecting ([ErrInvalidTopic],
// [ErrInvalidConfig]); a cluster that cannot be reached or refuses the
// credentials gives a *conn.ConnectError (conn.ErrUnreachable,
// conn.ErrAuthentication, conn.ErrTLS). When ctx ends, Ensure closes its
// connections and returns ctx's error, within about the dial timeout; the
// Report then holds what was done so far.
func Ensure(ctx context.Context, brokers []string, topics []Topic, opts ...Option) (Report, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return Report{}, err
	}
	if len(brokers) == 0 {
		return Report{}, fmt.Errorf("%w: no broker addresses", ErrInvalidConfig)
	}
	if err := validateTopics(topics); err != nil {
		return Report{}, err
	}
	settings, err := conn.Build(cfg.connOpts...)
	if err != nil {
		return Report{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	scfg, err := saramax.NewConfig(settings)
	if err != nil {
		return Report{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	applySaramaHooks(scfg, cfg.saramaHooks)
	if err := saramax.Validate(scfg); err != nil {
		return Report{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if len(topics) == 0 {
		return Report{}, nil
	}
	if err := ctx.Err(); err != nil {
		return Report{}, err
	}

	// The worker runs sarama's blocking calls; cutting its connections is
	// how a cancelled ctx makes them return.
	aborter := saramax.MakeAbortable(scfg)
	r := &run{cfg: cfg, topics: topics}
	done := make(chan error, 1)
	go func() {
		admin, err := saramax.NewTopicAdmin(brokers, scfg)
		if err != nil {
			if ctx.Err() != nil {
				done <- ctx.Err()
				return
			}
			done <- fmt.Errorf("provision: connect: %w", saramax.ExplainConnectError(err, brokers, scfg, settings))
			return
		}
		defer func() { _ = admin.Close() }()
		done <- r.ensure(ctx, admin)
	}()

	select {
	case err := <-done:
		return r.report(), err
	case <-ctx.Done():
		aborter.Abort()
		<-done
		return r.report(), ctx.Err()
	}
}

func validateTopics(topics []Topic) error {
	seen := make(map[string]bool, len(topics))
	for _, t := range topics {
		if err := t.validate(); err != nil {
			return err
		}
		if seen[t.Name] {
			return invalidTopic(t.Name, "declared twice")
		}
		seen[t.Name] = true
	}
	return nil
}

// run is one Ensure call. Ensure reads the report fields only after the
// worker goroutine has finished.
type run struct {
	cfg    config
	topics []Topic
	admin  *saramax.TopicAdmin

	created  []string
	existing []string
	drift    []Difference
}

func (r *run) report() Report {
	return Report{Created: r.created, Existing: r.existing, Drift: r.drift}
}

func (r *run) ensure(ctx context.Context, admin *saramax.TopicAdmin) error {
	r.admin = admin
	names := make([]string, len(r.topics))
	for i, t := range r.topics {
		names[i] = t.Name
	}
	states, err := r.admin.DescribeTopics(names)
	if err != nil {
		return r.failed(ctx, "describe topics", err)
	}
	var created, raced []Topic
	for _, t := range r.topics {
		if st, ok := states[t.Name]; ok {
			r.existing = append(r.existing, t.Name)
			r.drift = append(r.drift, compare(t, st)...)
			continue
		}
		err := r.admin.CreateTopic(saramax.TopicSpec{
			Name: t.Name, Partitions: t.Partitions, ReplicationFactor: t.ReplicationFactor, Configs: t.Configs,
		})
		switch {
		case err == nil:
			r.created = append(r.created, t.Name)
			created = append(created, t)
			r.cfg.logger.LogAttrs(ctx, slog.LevelInfo, "provision: created topic",
				slog.String("topic", t.Name), slog.Int("partitions", int(t.Partitions)),
				slog.Int("replication_factor", int(t.ReplicationFactor)))
		case errors.Is(err, saramax.ErrTopicExists):
			raced = append(raced, t) // another caller created it since we looked
		default:
			return r.failed(ctx, "create topic "+t.Name, err)
		}
	}
	if len(created)+len(raced) > 0 {
		visible, err := r.waitVisible(ctx, append(created, raced...))
		if err != nil {
			return err
		}
		for _, t := range raced {
			r.existing = append(r.existing, t.Name)
			r.drift = append(r.drift, compare(t, visible[t.Name])...)
		}
	}
	return r.settleDrift(ctx)
}

func (r *run) failed(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("provision: %s: %w", what, err)
}

func (r *run) settleDrift(ctx context.Context) error {
	if len(r.drift) == 0 {
		return nil
	}
	if !r.cfg.driftAsWarning {
		return &DriftError{Differences: slices.Clone(r.drift)}
	}
	for _, d := range r.drift {
		r.cfg.logger.LogAttrs(ctx, slog.LevelWarn, "provision: topic drifted from its declaration; left unchanged",
			slog.String("topic", d.Topic), slog.String("setting", d.Setting),
			slog.String("want", d.Want), slog.String("have", d.Have))
	}
	return nil
}

// waitVisible polls until every topic shows in the metadata with at least
// one partition: a topic just created is not visible on every broker at
// once, and a producer started right after Ensure should find it.
func (r *run) waitVisible(ctx context.Context, topics []Topic) (map[string]saramax.TopicState, error) {
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Name
	}
	deadline := time.Now().Add(r.cfg.createTimeout)
	for polls := 1; ; polls++ {
		states, err := r.admin.DescribeTopics(names)
		if err != nil {
			return nil, r.failed(ctx, "describe created topics", err)
		}
		var missing []string
		for _, n := range names {
			if st, ok := states[n]; !ok || st.Partitions == 0 {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 {
			return states, nil
		}
		wait := visiblePoll.Delay(polls)
		if time.Now().Add(wait).After(deadline) {
			return nil, fmt.Errorf("provision: topics %v were created but are not in the cluster's metadata after %v", missing, r.cfg.createTimeout)
		}
		if err := (clock.Wall{}).Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// visiblePoll paces waitVisible: a created topic normally shows within
// milliseconds. Exact (no jitter): one Ensure polls its own topics, nothing
// else polls in step with it.
var visiblePoll = backoff.Policy{Initial: 20 * time.Millisecond, Max: time.Second, Jitter: backoff.None}

// compare lists how st differs from what t declares.
func compare(t Topic, st saramax.TopicState) []Difference {
	var diffs []Difference
	if t.Partitions > 0 && st.Partitions != t.Partitions {
		diffs = append(diffs, Difference{Topic: t.Name, Setting: "partitions",
			Want: strconv.Itoa(int(t.Partitions)), Have: strconv.Itoa(int(st.Partitions))})
	}
	if t.ReplicationFactor > 0 && st.ReplicationFactor != t.ReplicationFactor {
		diffs = append(diffs, Difference{Topic: t.Name, Setting: "replication.factor",
			Want: strconv.Itoa(int(t.ReplicationFactor)), Have: strconv.Itoa(int(st.ReplicationFactor))})
	}
	keys := make([]string, 0, len(t.Configs))
	for k := range t.Configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		have, ok := st.Configs[k]
		if !ok || !sameConfigValue(t.Configs[k], have) {
			diffs = append(diffs, Difference{Topic: t.Name, Setting: k, Want: t.Configs[k], Have: have})
		}
	}
	return diffs
}

// sameConfigValue compares config values the way Kafka reads them: list
// configs such as cleanup.policy=compact,delete are sets, and spaces
// around items do not count.
func sameConfigValue(want, have string) bool {
	norm := func(v string) string {
		items := strings.Split(v, ",")
		for i := range items {
			items[i] = strings.TrimSpace(items[i])
		}
		sort.Strings(items)
		return strings.Join(items, ",")
	}
	return norm(want) == norm(have)
}
