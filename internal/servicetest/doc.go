// Package servicetest finds the PostgreSQL and Redis servers that
// integration tests use, and skips the test (or fails it, when
// BULWARK_REQUIRE_SERVICES=1) when one is unreachable.
//
// Addresses come from environment variables with defaults for the servers
// on the development machine:
//
//	BULWARK_POSTGRES_DSN  postgres://postgres@127.0.0.1:5432/test?sslmode=disable
//	BULWARK_REDIS_ADDR    127.0.0.1:6379
package servicetest
