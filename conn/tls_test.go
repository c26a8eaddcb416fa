package conn_test

import (
	"crypto/tls"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/conn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWithTLSFilesLoadsCAAndClientCertificate(t *testing.T) {
	ca := validCert(t, "test-ca", nil, true)
	client := validCert(t, "client", ca, false)
	caFile := writeFile(t, "ca.pem", ca.certPEM())
	certFile := writeFile(t, "client.pem", client.certPEM())
	keyFile := writeFile(t, "client-key.pem", client.keyPEM(t))

	s, err := conn.Build(conn.WithTLSFiles(caFile, certFile, keyFile))
	require.NoError(t, err)
	require.NotNil(t, s.TLS)
	require.Len(t, s.TLS.Certificates, 1)
	assert.Equal(t, client.der, s.TLS.Certificates[0].Certificate[0])
	require.NotNil(t, s.TLS.RootCAs)
	// The pool trusts what the CA signed, and only that.
	_, err = client.cert.Verify(x509VerifyOptions(s.TLS))
	assert.NoError(t, err)
	stranger := validCert(t, "stranger", nil, false)
	_, err = stranger.cert.Verify(x509VerifyOptions(s.TLS))
	assert.Error(t, err)
	assert.GreaterOrEqual(t, s.TLS.MinVersion, uint16(tls.VersionTLS12))
}

func TestWithTLSFilesKeepsWithTLSSettingsInEitherOrder(t *testing.T) {
	ca := validCert(t, "test-ca", nil, true)
	caFile := writeFile(t, "ca.pem", ca.certPEM())
	base := &tls.Config{ServerName: "kafka.internal", MinVersion: tls.VersionTLS13}
	for name, opts := range map[string][]conn.Option{
		"tls first":   {conn.WithTLS(base), conn.WithTLSFiles(caFile, "", "")},
		"files first": {conn.WithTLSFiles(caFile, "", ""), conn.WithTLS(base)},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := conn.Build(opts...)
			require.NoError(t, err)
			assert.Equal(t, "kafka.internal", s.TLS.ServerName)
			assert.Equal(t, uint16(tls.VersionTLS13), s.TLS.MinVersion)
			assert.NotNil(t, s.TLS.RootCAs)
		})
	}
	assert.Nil(t, base.RootCAs, "the caller's config must not be changed")
}

func TestWithTLSFilesOnlyCAMeansNoClientCertificate(t *testing.T) {
	ca := validCert(t, "test-ca", nil, true)
	s, err := conn.Build(conn.WithTLSFiles(writeFile(t, "ca.pem", ca.certPEM()), "", ""))
	require.NoError(t, err)
	assert.Empty(t, s.TLS.Certificates)
}

func TestWithTLSFilesRejectsBadFiles(t *testing.T) {
	ca := validCert(t, "test-ca", nil, true)
	client := validCert(t, "client", ca, false)
	other := validCert(t, "other", ca, false)
	expiredCA := newCert(t, "old-ca", nil, true, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	expiredClient := newCert(t, "old-client", ca, false, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	futureClient := newCert(t, "new-client", ca, false, time.Now().Add(24*time.Hour), time.Now().Add(48*time.Hour))

	caFile := writeFile(t, "ca.pem", ca.certPEM())
	certFile := writeFile(t, "client.pem", client.certPEM())
	keyFile := writeFile(t, "client-key.pem", client.keyPEM(t))
	missing := filepath.Join(t.TempDir(), "missing.pem")

	cases := []struct {
		name          string
		ca, cert, key string
		setting       string
		cause         error
	}{
		{name: "CA file missing", ca: missing, setting: "tls.ca_file", cause: fs.ErrNotExist},
		{name: "CA file without certificate", ca: writeFile(t, "junk.pem", []byte("not a pem file")), setting: "tls.ca_file"},
		{name: "CA file holds only a key", ca: keyFile, setting: "tls.ca_file"},
		{name: "CA expired", ca: writeFile(t, "old-ca.pem", expiredCA.certPEM()), setting: "tls.ca_file"},
		{name: "cert without key", ca: caFile, cert: certFile, setting: "tls.cert_file"},
		{name: "key without cert", ca: caFile, key: keyFile, setting: "tls.cert_file"},
		{name: "cert file missing", ca: caFile, cert: missing, key: keyFile, setting: "tls.cert_file", cause: fs.ErrNotExist},
		{name: "key file missing", ca: caFile, cert: certFile, key: missing, setting: "tls.key_file", cause: fs.ErrNotExist},
		{name: "key of another certificate", ca: caFile, cert: certFile, key: writeFile(t, "other-key.pem", other.keyPEM(t)), setting: "tls.key_file"},
		{name: "client certificate expired", ca: caFile, cert: writeFile(t, "old.pem", expiredClient.certPEM()), key: writeFile(t, "old-key.pem", expiredClient.keyPEM(t)), setting: "tls.cert_file"},
		{name: "client certificate not yet valid", ca: caFile, cert: writeFile(t, "new.pem", futureClient.certPEM()), key: writeFile(t, "new-key.pem", futureClient.keyPEM(t)), setting: "tls.cert_file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := conn.Build(conn.WithTLSFiles(tc.ca, tc.cert, tc.key))
			require.Error(t, err)
			assert.ErrorIs(t, err, conn.ErrInvalidSettings)
			var se *conn.SettingError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.setting, se.Setting, "error: %v", err)
			if tc.cause != nil {
				assert.ErrorIs(t, err, tc.cause)
			}
		})
	}
}

func TestWithTLSNilUsesSystemRoots(t *testing.T) {
	s, err := conn.Build(conn.WithTLS(nil))
	require.NoError(t, err)
	require.NotNil(t, s.TLS)
	assert.Nil(t, s.TLS.RootCAs)
	assert.Equal(t, uint16(tls.VersionTLS12), s.TLS.MinVersion)
}

func TestBuildWithoutTLSIsPlaintext(t *testing.T) {
	s, err := conn.Build()
	require.NoError(t, err)
	assert.Nil(t, s.TLS)
	assert.Nil(t, s.SASL)
	assert.Empty(t, s.RackID)
}

// The message names the setting, the file and the cause.
func TestSettingErrorMessageNamesSettingAndCause(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "ca.pem")
	_, err := conn.Build(conn.WithTLSFiles(missing, "", ""))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "conn: invalid settings: tls.ca_file: cannot read "+missing)
	assert.True(t, errors.Is(err, fs.ErrNotExist))
}
