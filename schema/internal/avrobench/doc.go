// Package avrobench measures schema's serde path (goavro plus the model
// in schema/internal/avro) against github.com/hamba/avro/v2 on one
// representative record. It is a module of its own so that hamba never
// becomes a requirement of bulwark's go.mod; it holds benchmarks only.
//
//	cd schema/internal/avrobench && go test -run '^$' -bench . -benchmem
package avrobench
