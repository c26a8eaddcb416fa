// Package avro is schema's model of Avro schemas, beside goavro: goavro
// validates each schema and does all binary encoding and decoding; this
// package has what goavro keeps private or lacks.
//
//   - [Parse]: a schema's JSON text into a [Type] tree (named types are
//     shared pointers, so a recursive schema is a cyclic graph), judged by
//     the Avro specification's rules; [CanonicalForm] of a tree.
//   - [Compile]: goavro's codec and the tree of one text, the unit a serde
//     caches (each text compiled once per serde), with its pre-decode
//     [Guard] built on first use.
//   - [NewResolver]: the projection of a value decoded with a writer
//     schema onto a reader schema (Avro's resolution rules), with field
//     defaults converted to goavro's native form.
//   - [Reasons]: why one schema cannot read data written with another,
//     the pairwise core of schema.CheckCompatibility (which owns the
//     levels).
//   - [CompileGo]: a [GoCodec] between Go values with `avro` tags and
//     goavro's native values of one schema.
//   - [Guard]: a bounded scan of untrusted bytes before goavro sizes
//     arrays and maps from their block counts.
//
// Errors are plain errors whose text is the reason; package schema wraps
// them in its typed errors. Nothing here talks to a registry.
package avro
