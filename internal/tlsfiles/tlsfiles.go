// Package tlsfiles turns PEM files (CA bundle, client certificate and key)
// into a *tls.Config, with errors that name the setting and the file. The
// Kafka connection settings (conn) and the schema registry client share it,
// so both take the same files and reject the same mistakes.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// Setting names, as reported in [Error].
const (
	CAFile   = "tls.ca_file"
	CertFile = "tls.cert_file"
	KeyFile  = "tls.key_file"
)

// Error says which file setting is wrong and why.
type Error struct {
	Setting string // CAFile, CertFile or KeyFile
	Reason  string
	Err     error // underlying cause, or nil
}

func (e *Error) Error() string {
	msg := e.Setting + ": " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// ErrNoCertificate is the cause when a file holds no PEM CERTIFICATE block.
var ErrNoCertificate = errors.New("no PEM CERTIFICATE block found")

// Load adds the files to a clone of base (nil: TLS 1.2 or newer). caFile
// replaces the trusted roots (empty: keep base's, or the system roots);
// certFile and keyFile set the client certificate (both empty: none). An
// unreadable file, one without a certificate, a key that does not match,
// or a certificate that has expired (as of now) is an *Error.
func Load(base *tls.Config, caFile, certFile, keyFile string, now time.Time) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if base != nil {
		cfg = base.Clone()
	}
	if caFile != "" {
		pool, err := loadCA(caFile, now)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	switch {
	case certFile == "" && keyFile == "":
	case certFile == "" || keyFile == "":
		return nil, fail(CertFile, nil, "a client certificate needs both a certificate file and a key file (got cert %q, key %q)", certFile, keyFile)
	default:
		pair, err := loadKeyPair(certFile, keyFile, now)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

func fail(setting string, cause error, format string, args ...any) *Error {
	return &Error{Setting: setting, Reason: fmt.Sprintf(format, args...), Err: cause}
}

func loadCA(path string, now time.Time) (*x509.CertPool, error) {
	certs, err := readCertificates(CAFile, path)
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
		return nil, fail(CAFile, nil, "every certificate in %s has expired (latest %s)", path, certs[len(certs)-1].NotAfter.Format(time.RFC3339))
	}
	return pool, nil
}

func loadKeyPair(certPath, keyPath string, now time.Time) (tls.Certificate, error) {
	certs, err := readCertificates(CertFile, certPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf := certs[0]
	if now.After(leaf.NotAfter) {
		return tls.Certificate{}, fail(CertFile, nil, "client certificate %s (%s) expired at %s", certPath, leaf.Subject, leaf.NotAfter.Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return tls.Certificate{}, fail(CertFile, nil, "client certificate %s (%s) is not valid before %s", certPath, leaf.Subject, leaf.NotBefore.Format(time.RFC3339))
	}
	certPEM, _ := os.ReadFile(certPath) // read successfully just above
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return tls.Certificate{}, fail(KeyFile, err, "cannot read %s", keyPath)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fail(KeyFile, err, "%s does not hold the private key of %s", keyPath, certPath)
	}
	return pair, nil
}

// readCertificates parses every CERTIFICATE block of a PEM file.
func readCertificates(setting, path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fail(setting, err, "cannot read %s", path)
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
			return nil, fail(setting, err, "%s holds a certificate that does not parse", path)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fail(setting, ErrNoCertificate, "%s", path)
	}
	return certs, nil
}
