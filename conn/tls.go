package conn

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"time"
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
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.TLS != nil {
		cfg = s.TLS.Clone()
	}
	now := time.Now()
	if f.ca != "" {
		pool, err := loadCAFile(f.ca, now)
		if err != nil {
			return err
		}
		cfg.RootCAs = pool
	}
	switch {
	case f.cert == "" && f.key == "":
	case f.cert == "" || f.key == "":
		return invalid("tls.cert_file", "a client certificate needs both a certificate file and a key file (got cert %q, key %q)", f.cert, f.key)
	default:
		pair, err := loadKeyPair(f.cert, f.key, now)
		if err != nil {
			return err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	s.TLS = cfg
	return nil
}

func loadCAFile(path string, now time.Time) (*x509.CertPool, error) {
	certs, err := readCertificates("tls.ca_file", path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	valid := 0
	for _, c := range certs {
		pool.AddCert(c)
		if now.Before(c.NotAfter) {
			valid++
		}
	}
	if valid == 0 {
		return nil, invalid("tls.ca_file", "every certificate in %s has expired (latest %s)", path, certs[len(certs)-1].NotAfter.Format(time.RFC3339))
	}
	return pool, nil
}

func loadKeyPair(certPath, keyPath string, now time.Time) (tls.Certificate, error) {
	certs, err := readCertificates("tls.cert_file", certPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf := certs[0]
	if now.After(leaf.NotAfter) {
		return tls.Certificate{}, invalid("tls.cert_file", "client certificate %s (%s) expired at %s", certPath, leaf.Subject, leaf.NotAfter.Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return tls.Certificate{}, invalid("tls.cert_file", "client certificate %s (%s) is not valid before %s", certPath, leaf.Subject, leaf.NotBefore.Format(time.RFC3339))
	}
	certPEM, _ := os.ReadFile(certPath) // read successfully just above
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return tls.Certificate{}, invalidCause("tls.key_file", err, "cannot read %s", keyPath)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, invalidCause("tls.key_file", err, "%s does not hold the private key of %s", keyPath, certPath)
	}
	return pair, nil
}

// readCertificates parses every CERTIFICATE block of a PEM file.
func readCertificates(setting, path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, invalidCause(setting, err, "cannot read %s", path)
	}
	var certs []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, invalidCause(setting, err, "%s holds a certificate that does not parse", path)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, invalidCause(setting, errNoCertificate, "%s", path)
	}
	return certs, nil
}

var errNoCertificate = errors.New("no PEM CERTIFICATE block found")
