package dedup

import (
	"github.com/bulwarkgo/bulwark/internal/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metric names. Attribute sets are built once so recording allocates
// nothing.
const (
	MetricClaims       = "bulwark.dedup.claims"        // claim calls, by dedup.outcome (acquired, duplicate, busy)
	MetricDuplicates   = "bulwark.dedup.duplicates"    // records skipped as duplicates
	MetricConflicts    = "bulwark.dedup.conflicts"     // by dedup.conflict: busy (key leased elsewhere), lease_lost
	MetricStoreErrors  = "bulwark.dedup.store_errors"  // by dedup.operation: claim, confirm, release
	MetricUnkeyed      = "bulwark.dedup.unkeyed"       // records passed through without a key
	MetricFallbackKeys = "bulwark.dedup.fallback_keys" // records keyed by the fallback (no message ID)

	// AttrName is the attribute every metric of a Deduplicator built
	// with [WithName] carries.
	AttrName = "bulwark.dedup.name"
)

type metrics struct {
	claims, duplicates, conflicts, storeErrors, unkeyed, fallbackKeys metric.Int64Counter

	plain                                    metric.AddOption // the name alone, for duplicates, unkeyed and fallback keys
	claimAcquired, claimDuplicate, claimBusy metric.AddOption
	conflictBusy, conflictLeaseLost          metric.AddOption
	opClaim, opConfirm, opRelease            metric.AddOption
}

func newMetrics(mp metric.MeterProvider, name string) (*metrics, error) {
	meter := telemetry.MeterProvider(mp).Meter(telemetry.Scope + "/dedup")
	m := &metrics{}
	var err error
	counter := func(name, desc string) metric.Int64Counter {
		if err != nil {
			return nil
		}
		var c metric.Int64Counter
		c, err = meter.Int64Counter(name, metric.WithDescription(desc), metric.WithUnit("{record}"))
		return c
	}
	m.claims = counter(MetricClaims, "Dedup claim attempts by outcome.")
	m.duplicates = counter(MetricDuplicates, "Records skipped because their key was already processed.")
	m.conflicts = counter(MetricConflicts, "Records whose key was held by another claim.")
	m.storeErrors = counter(MetricStoreErrors, "Failed dedup store calls by operation.")
	m.unkeyed = counter(MetricUnkeyed, "Records without a dedup key passed through unprotected.")
	m.fallbackKeys = counter(MetricFallbackKeys, "Records without a message ID, keyed by the fallback key function.")
	if err != nil {
		return nil, err
	}
	var named []attribute.KeyValue
	if name != "" {
		named = append(named, attribute.String(AttrName, name))
	}
	attr := func(k, v string) metric.AddOption {
		return metric.WithAttributeSet(attribute.NewSet(append([]attribute.KeyValue{attribute.String(k, v)}, named...)...))
	}
	m.plain = metric.WithAttributeSet(attribute.NewSet(named...))
	m.claimAcquired = attr("dedup.outcome", "acquired")
	m.claimDuplicate = attr("dedup.outcome", "duplicate")
	m.claimBusy = attr("dedup.outcome", "busy")
	m.conflictBusy = attr("dedup.conflict", "busy")
	m.conflictLeaseLost = attr("dedup.conflict", "lease_lost")
	m.opClaim = attr("dedup.operation", "claim")
	m.opConfirm = attr("dedup.operation", "confirm")
	m.opRelease = attr("dedup.operation", "release")
	return m, nil
}
