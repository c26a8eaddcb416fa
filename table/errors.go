package table

import (
	"errors"
	"fmt"

	"github.com/bulwarkgo/bulwark/conn"
)

// Sentinels for errors.Is.
var (
	// ErrInvalidConfig is wrapped by every error Open returns for bad
	// arguments or options. Bad connection settings also match
	// conn.ErrInvalidSettings.
	ErrInvalidConfig = errors.New("table: invalid configuration")
	// ErrUnknownTopic: the table's topic does not exist.
	ErrUnknownTopic = errors.New("table: topic does not exist")
	// ErrNotFound: the table holds no value for the key.
	ErrNotFound = errors.New("table: key not found")
	// ErrNoDecoder: [Table.Value] was called on a table opened without
	// [WithDecoder].
	ErrNoDecoder = errors.New("table: no decoder configured")
)

func invalidConfig(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}

// openError makes bad connection settings match ErrInvalidConfig too.
func openError(err error) error {
	if errors.Is(err, conn.ErrInvalidSettings) {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return err
}

// DecodeError is what [Table.Value] returns for a key whose latest value
// the decoder refused as the record's own fault (bulwark's permanent
// class): the raw bytes stay in the table ([Table.Get]), the decoded value
// is this error until a later record for the key replaces it.
type DecodeError struct {
	Partition int32
	Offset    int64
	Err       error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("table: value at partition %d offset %d cannot be decoded: %v", e.Partition, e.Offset, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }
