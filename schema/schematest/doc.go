// Package schematest helps test code that uses package schema: an
// in-memory schema registry served over HTTP ([NewServer], or [NewHandler]
// to wrap it), a conformance suite for schema.Registry implementations
// ([RunRegistrySuite]) and a test helper that fails with readable reasons
// when a schema change breaks compatibility ([RequireCompatible]).
package schematest
