// Package joinerr joins errors as errors.Join does, but into one line:
// errors.Join puts each error on a line of its own, which log lines,
// metrics labels and a terminal's one-line error message all render
// badly ("EOF\nEOF\nEOF" for three brokers that hung up).
package joinerr

import "strings"

// Join returns an error wrapping the non-nil errs, as errors.Join does
// (errors.Is and errors.As see each of them), whose message is their
// messages joined by "; ", each made one line. It returns nil when every
// err is nil.
func Join(errs ...error) error {
	var kept []error
	for _, err := range errs {
		if err != nil {
			kept = append(kept, err)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	return &joined{errs: kept}
}

type joined struct{ errs []error }

func (j *joined) Error() string {
	parts := make([]string, len(j.errs))
	for i, err := range j.errs {
		parts[i] = strings.ReplaceAll(err.Error(), "\n", "; ")
	}
	return strings.Join(parts, "; ")
}

func (j *joined) Unwrap() []error { return j.errs }
