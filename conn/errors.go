package conn

import (
	"errors"
	"fmt"
)

// ErrInvalidSettings is wrapped by every validation error of this package.
var ErrInvalidSettings = errors.New("conn: invalid settings")

// SettingError reports one invalid setting. It matches [ErrInvalidSettings]
// and, when the setting failed because of an underlying error (a file that
// cannot be read, a key that does not parse), that error too, so
// errors.Is(err, fs.ErrNotExist) works for a missing certificate file.
type SettingError struct {
	// Setting names what is wrong, e.g. "sasl.mechanism" or "tls.ca_file".
	Setting string
	// Reason explains it in a sentence fragment.
	Reason string
	// Err is the underlying cause, or nil.
	Err error
}

func (e *SettingError) Error() string {
	msg := fmt.Sprintf("%s: %s: %s", ErrInvalidSettings, e.Setting, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns [ErrInvalidSettings] and the cause, if any.
func (e *SettingError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalidSettings}
	}
	return []error{ErrInvalidSettings, e.Err}
}

func invalid(setting, format string, args ...any) error {
	return &SettingError{Setting: setting, Reason: fmt.Sprintf(format, args...)}
}

func invalidCause(setting string, cause error, format string, args ...any) error {
	return &SettingError{Setting: setting, Reason: fmt.Sprintf(format, args...), Err: cause}
}
