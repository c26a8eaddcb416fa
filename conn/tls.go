package conn

import (
	"crypto/tls"
	"errors"
	"time"

	"github.com/bulwarkgo/bulwark/internal/tlsfiles"
)

// WithTLS encrypts broker connections with cfg (nil: TLS 1.2 or newer with
// the system roots). The config is cloned, so later changes by the caller do
// not apply. Default: plaintext.
func WithTLS(cfg *tls.Config) Option {
	return func(s *Settings) error {
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		s.TLS = cfg.Clone()
		return nil
	}
}

type tlsFiles struct{ ca, cert, key string }

// WithTLSFiles encrypts broker connections using PEM files: caFile holds the
// CA certificates to trust (empty: the system roots), certFile and keyFile
// the client certificate and its private key for mutual TLS (both empty: no
// client certificate).
//
// The files are read once, by [Build]; an unreadable file, a file without a
// certificate, a key that does not match the certificate, or a certificate
// that has expired fails Build with a [*SettingError] naming the file. When
// [WithTLS] is given too, the files are added to its config (so ServerName
// or cipher choices from there are kept), whatever the order of the two
// options.
func WithTLSFiles(caFile, certFile, keyFile string) Option {
	return func(s *Settings) error {
		s.tlsFiles = &tlsFiles{ca: caFile, cert: certFile, key: keyFile}
		return nil
	}
}

// loadTLSFiles turns the files named by WithTLSFiles into s.TLS.
func (s *Settings) loadTLSFiles() error {
	f := s.tlsFiles
	if f == nil {
		return nil
	}
	s.tlsFiles = nil
	cfg, err := tlsfiles.Load(s.TLS, f.ca, f.cert, f.key, time.Now())
	if err != nil {
		var fe *tlsfiles.Error
		if errors.As(err, &fe) {
			return invalidCause(fe.Setting, fe.Err, "%s", fe.Reason)
		}
		return err
	}
	s.TLS = cfg
	return nil
}
