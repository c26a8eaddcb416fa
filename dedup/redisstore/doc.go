// Package redisstore is a [dedup.Store] in Redis (github.com/redis/go-redis/v9),
// shared by every consumer process that uses the same key prefix and kept
// across their restarts. It lives in its own package so that users of the
// memory or SQL store do not import a Redis client.
package redisstore
