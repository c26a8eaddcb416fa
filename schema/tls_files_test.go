package schema_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/schema"
	"github.com/bulwarkgo/bulwark/schema/schematest"
)

// writePEM writes one PEM block to a file in dir and returns its path.
func writePEM(t *testing.T, dir, name, blockType string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// clientCert makes a self-signed client certificate and writes it and its
// key as PEM files.
func clientCert(t *testing.T, dir string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "bulwark-client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, "client.pem", "CERTIFICATE", der), writePEM(t, dir, "client-key.pem", "EC PRIVATE KEY", keyDER), cert
}

// WithTLSFiles takes the same PEM files as conn.WithTLSFiles: a CA bundle
// to trust the registry, a client certificate and key for mutual TLS.
func TestTLSFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := httptest.NewUnstartedServer(schematest.NewHandler())
	certFile, keyFile, cert := clientCert(t, dir)
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(cert)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	defer srv.Close()
	caFile := writePEM(t, dir, "ca.pem", "CERTIFICATE", srv.Certificate().Raw)

	c := must(schema.NewClient(srv.URL, schema.WithRetries(0), schema.WithTLSFiles(caFile, certFile, keyFile)))
	if _, err := c.Register(ctx, "a-value", avroSchema(orderV1)); err != nil {
		t.Fatalf("mutual TLS with files: %v", err)
	}
	// The server demands a client certificate: the CA alone is not enough.
	caOnly := must(schema.NewClient(srv.URL, schema.WithRetries(0), schema.WithTLSFiles(caFile, "", "")))
	if _, err := caOnly.Subjects(ctx); err == nil {
		t.Fatal("a client without a certificate passed a server that requires one")
	}
	// Files add to WithTLS's config, in either order.
	for _, opts := range [][]schema.ClientOption{
		{schema.WithTLS(&tls.Config{MinVersion: tls.VersionTLS12}), schema.WithTLSFiles(caFile, certFile, keyFile)},
		{schema.WithTLSFiles(caFile, certFile, keyFile), schema.WithTLS(&tls.Config{MinVersion: tls.VersionTLS12})},
	} {
		both := must(schema.NewClient(srv.URL, append(opts, schema.WithRetries(0))...))
		if _, err := both.Subjects(ctx); err != nil {
			t.Fatalf("WithTLS and WithTLSFiles together: %v", err)
		}
	}

	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, files := range map[string][3]string{
		"missing CA file":   {filepath.Join(dir, "nope.pem"), "", ""},
		"CA without a cert": {garbage, "", ""},
		"cert without key":  {caFile, certFile, ""},
		"key of another":    {caFile, caFile, keyFile},
	} {
		_, err := schema.NewClient(srv.URL, schema.WithTLSFiles(files[0], files[1], files[2]))
		if !errors.Is(err, schema.ErrInvalidConfig) || !strings.Contains(err.Error(), "tls.") {
			t.Errorf("%s: NewClient error %v, want ErrInvalidConfig naming the tls setting", name, err)
		}
	}
}
