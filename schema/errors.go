package schema

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/bulwarkgo/bulwark"
)

// Sentinels for errors.Is.
var (
	// ErrInvalidConfig is wrapped by every error from a bad option or
	// argument to a constructor of this package.
	ErrInvalidConfig = errors.New("schema: invalid configuration")

	// Registry answers (see [RegistryError] for the codes).
	ErrSubjectNotFound      = errors.New("schema: subject not found")
	ErrVersionNotFound      = errors.New("schema: version not found")
	ErrSchemaNotFound       = errors.New("schema: schema not found")
	ErrIncompatibleSchema   = errors.New("schema: incompatible schema")
	ErrInvalidSchema        = errors.New("schema: invalid schema")
	ErrInvalidVersion       = errors.New("schema: invalid version")
	ErrInvalidCompatibility = errors.New("schema: invalid compatibility level")

	// ErrDecode is matched by every [DecodeError]: a record that cannot be
	// decoded, whatever the reason. Such errors are of the bulwark
	// permanent class.
	ErrDecode = errors.New("schema: cannot decode record")
	// ErrWireFormat: the record is not in the Confluent wire format (too
	// short, or a first byte other than 0).
	ErrWireFormat = errors.New("schema: not in the Confluent wire format")
	// ErrMalformedPayload: the Avro body does not decode with its writer
	// schema (truncated, garbage, trailing bytes), or cannot be projected
	// onto the reader schema.
	ErrMalformedPayload = errors.New("schema: malformed Avro payload")

	// ErrEncode is matched by every [EncodeError]: a value that does not
	// fit its schema.
	ErrEncode = errors.New("schema: cannot encode value")

	// ErrRegistryUnavailable is matched by every [UnavailableError]: the
	// registry could not be reached or failed to answer.
	ErrRegistryUnavailable = errors.New("schema: registry unavailable")
)

// Confluent Schema Registry error codes (the "error_code" of an error body).
const (
	CodeSubjectNotFound        = 40401
	CodeVersionNotFound        = 40402
	CodeSchemaNotFound         = 40403
	CodeSubjectSoftDeleted     = 40404
	CodeSubjectNotSoftDeleted  = 40405
	CodeVersionSoftDeleted     = 40406
	CodeVersionNotSoftDeleted  = 40407
	CodeSubjectCompatNotFound  = 40408
	CodeIncompatibleSchema     = 409
	CodeInvalidSchema          = 42201
	CodeInvalidVersion         = 42202
	CodeInvalidCompatibility   = 42203
	CodeStoreError             = 50001
	CodeOperationTimeout       = 50002
	CodeRequestForwardingError = 50003
)

// RegistryError is an error answer of the registry. It matches the
// sentinel of its code with errors.Is: ErrSubjectNotFound (40401, and
// 40404 for a soft-deleted subject), ErrVersionNotFound (40402),
// ErrSchemaNotFound (40403), ErrIncompatibleSchema (409),
// ErrInvalidSchema (42201), ErrInvalidVersion (42202) and
// ErrInvalidCompatibility (42203).
type RegistryError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is the registry's error_code (the HTTP status when the body had none).
	Code int
	// Message is the registry's message.
	Message string
	// Reasons are the registry's reasons for an incompatible schema, when
	// it gave them.
	Reasons []string
}

func (e *RegistryError) Error() string {
	msg := fmt.Sprintf("schema registry: %s (HTTP %d, error code %d)", e.Message, e.StatusCode, e.Code)
	if len(e.Reasons) > 0 {
		msg += ": " + formatReasons(e.Reasons)
	}
	return msg
}

// Is matches the sentinel of e's code.
func (e *RegistryError) Is(target error) bool {
	switch target {
	case ErrSubjectNotFound:
		return e.Code == CodeSubjectNotFound || e.Code == CodeSubjectSoftDeleted
	case ErrVersionNotFound:
		return e.Code == CodeVersionNotFound
	case ErrSchemaNotFound:
		return e.Code == CodeSchemaNotFound
	case ErrIncompatibleSchema:
		return e.Code == CodeIncompatibleSchema
	case ErrInvalidSchema:
		return e.Code == CodeInvalidSchema
	case ErrInvalidVersion:
		return e.Code == CodeInvalidVersion
	case ErrInvalidCompatibility:
		return e.Code == CodeInvalidCompatibility
	}
	return false
}

// temporary reports whether the answer says the registry is failing or
// overloaded (5xx, 429, 408) rather than that the request was wrong.
func (e *RegistryError) temporary() bool {
	return e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusRequestTimeout
}

// InvalidSchemaError is a schema this package cannot parse. It matches
// [ErrInvalidSchema].
type InvalidSchemaError struct {
	Reason string
}

func (e *InvalidSchemaError) Error() string { return "schema: invalid schema: " + e.Reason }

// Is matches ErrInvalidSchema.
func (e *InvalidSchemaError) Is(target error) bool { return target == ErrInvalidSchema }

// DecodeError is a record that cannot be decoded. It matches [ErrDecode]
// and its cause ([ErrWireFormat], [ErrSchemaNotFound],
// [ErrMalformedPayload], ...). Deserialize returns it wrapped with
// bulwark.Permanent, so a consumer dead-letters the record.
type DecodeError struct {
	// SchemaID is the writer schema ID from the record, -1 when the record
	// is too short to hold one.
	SchemaID int
	// Reason says what is wrong.
	Reason string
	// Err is the cause.
	Err error
}

func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString("schema: cannot decode record")
	if e.SchemaID >= 0 {
		fmt.Fprintf(&b, " (schema ID %d)", e.SchemaID)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	if e.Err != nil && !strings.Contains(e.Reason, e.Err.Error()) {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns ErrDecode and the cause.
func (e *DecodeError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrDecode}
	}
	return []error{ErrDecode, e.Err}
}

// EncodeError is a value that does not fit its schema. It matches
// [ErrEncode]; Serialize returns it wrapped with bulwark.Permanent, since
// the same value will never fit.
type EncodeError struct {
	Subject string
	Reason  string
	Err     error
}

func (e *EncodeError) Error() string {
	msg := "schema: cannot encode value"
	if e.Subject != "" {
		msg += " for subject " + e.Subject
	}
	msg += ": " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns ErrEncode and the cause.
func (e *EncodeError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrEncode}
	}
	return []error{ErrEncode, e.Err}
}

// UnavailableError is a registry that could not be reached or failed:
// connection refused or reset, EOF, a timeout, an HTTP 5xx, 429 or 408
// answer, an unreadable answer, a failing bearer token source, or the
// caller's context ending while waiting for it. It matches
// [ErrRegistryUnavailable] and its cause. The serdes return it wrapped with
// bulwark.Pause: nothing is wrong with the record, so a consumer pauses the
// partition and tries the record again when the registry is back, and never
// dead-letters it.
type UnavailableError struct {
	// Op is what the serde was doing, e.g. "fetching writer schema 3".
	Op string
	// Err is the cause: a [*RegistryError], a network error, ...
	Err error
}

func (e *UnavailableError) Error() string {
	return "schema: registry unavailable: " + e.Op + ": " + e.Err.Error()
}

// Unwrap returns ErrRegistryUnavailable and the cause.
func (e *UnavailableError) Unwrap() []error { return []error{ErrRegistryUnavailable, e.Err} }

// registryFault gives an error of a [Registry] call made by a serde its
// bulwark class. It is the one place this package classifies registry
// errors, by the project's rule: only a fault of the record itself may
// dead-letter. A registry that cannot be reached or is failing says nothing
// about the record (it would dead-letter every record of an outage), so it
// is pause-class; an answer about the record's schema (404 unknown ID or
// subject, 409 incompatible, 422 invalid, other 4xx) would be the same on
// every try, so it is permanent; a 401 or 403 refuses our credentials, not
// the record, so it pauses too (registryRefusesUs). A class the error
// already declares (a custom Registry's bulwark.Permanent, say) is kept.
func registryFault(op string, err error) error {
	if err == nil {
		return nil
	}
	var ce *bulwark.ClassError
	switch {
	case errors.As(err, &ce):
		return fmt.Errorf("schema: %s: %w", op, err)
	case registryUnavailable(err), registryRefusesUs(err):
		return bulwark.Pause(&UnavailableError{Op: op, Err: err}, 0)
	default:
		return bulwark.Permanent(fmt.Errorf("schema: %s: %w", op, err))
	}
}

// registryUnavailable reports whether err, from a Registry call, says the
// registry is unavailable rather than answering about the request.
func registryUnavailable(err error) bool {
	var re *RegistryError
	if errors.As(err, &re) {
		return re.temporary()
	}
	for _, answer := range []error{ErrSubjectNotFound, ErrVersionNotFound, ErrSchemaNotFound,
		ErrIncompatibleSchema, ErrInvalidSchema, ErrInvalidVersion, ErrInvalidCompatibility} {
		if errors.Is(err, answer) {
			return false
		}
	}
	// Anything else is the transport or the caller's context: connection
	// refused or reset, EOF, a timeout, an unreadable answer, a failing
	// token source.
	return true
}

// registryRefusesUs reports a 401 or 403: the registry refuses this
// client's credentials. That is no fault of the record, so it pauses (the
// operator fixes the credentials, or a token source's next token works)
// rather than dead-letter every record; the client does not retry it.
func registryRefusesUs(err error) bool {
	var re *RegistryError
	return errors.As(err, &re) && (re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden)
}

func invalidConfig(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}
