package conn_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bulwarkgo/bulwark/conn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWithSASLAcceptsKnownMechanismsInAnyCase(t *testing.T) {
	for _, mech := range []string{"PLAIN", "scram-sha-256", " SCRAM-SHA-512 "} {
		s, err := conn.Build(conn.WithSASL(mech, "alice", "secret"))
		require.NoError(t, err, mech)
		require.NotNil(t, s.SASL)
		assert.Contains(t, []string{conn.SASLPlain, conn.SASLSCRAMSHA256, conn.SASLSCRAMSHA512}, s.SASL.Mechanism)
		assert.Equal(t, "alice", s.SASL.User)
		assert.Equal(t, "secret", s.SASL.Password)
	}
}

func TestSASLValidation(t *testing.T) {
	cases := []struct {
		name    string
		opt     conn.Option
		setting string
	}{
		{"unknown mechanism", conn.WithSASL("GSSAPI", "alice", "secret"), "sasl.mechanism"},
		{"empty mechanism", conn.WithSASL("", "alice", "secret"), "sasl.mechanism"},
		{"OAUTHBEARER through WithSASL", conn.WithSASL("OAUTHBEARER", "alice", "secret"), "sasl.mechanism"},
		{"missing user", conn.WithSASL(conn.SASLSCRAMSHA512, "", "secret"), "sasl.user"},
		{"missing password", conn.WithSASL(conn.SASLPlain, "alice", ""), "sasl.password"},
		{"nil token source", conn.WithOAuthBearer(nil), "sasl.token_source"},
		{"nil token func", conn.WithOAuthBearer(conn.TokenSourceFunc(nil)), "sasl.token_source"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := conn.Build(tc.opt)
			require.Error(t, err)
			assert.ErrorIs(t, err, conn.ErrInvalidSettings)
			var se *conn.SettingError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.setting, se.Setting)
			assert.NotContains(t, err.Error(), "secret", "an error must never show the password")
		})
	}
}

func TestWithOAuthBearerKeepsTheTokenSource(t *testing.T) {
	src := conn.TokenSourceFunc(func(context.Context) (string, error) { return "tok", nil })
	s, err := conn.Build(conn.WithSASL(conn.SASLPlain, "alice", "secret"), conn.WithOAuthBearer(src))
	require.NoError(t, err)
	assert.Equal(t, conn.SASLOAuthBearer, s.SASL.Mechanism)
	assert.Empty(t, s.SASL.User, "the later option replaces the earlier one entirely")
	tok, err := s.SASL.TokenSource.Token(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "tok", tok)
}

func TestSASLStringHidesPassword(t *testing.T) {
	s, err := conn.Build(conn.WithSASL(conn.SASLSCRAMSHA512, "alice", "hunter2"))
	require.NoError(t, err)
	assert.Equal(t, "alice (SCRAM-SHA-512)", s.SASL.String())
}

func TestConnectErrorMatchesKindAndCause(t *testing.T) {
	cause := errors.New("EOF")
	err := error(&conn.ConnectError{Kind: conn.ErrAuthentication, Detail: "SASL authentication as alice (PLAIN) failed", Err: cause})
	assert.ErrorIs(t, err, conn.ErrAuthentication)
	assert.ErrorIs(t, err, cause)
	assert.NotErrorIs(t, err, conn.ErrTLS)
	assert.NotErrorIs(t, err, conn.ErrUnreachable)
	assert.Equal(t, "SASL authentication as alice (PLAIN) failed: EOF", err.Error())
	var ce *conn.ConnectError
	require.ErrorAs(t, err, &ce)
	assert.False(t, ce.Retryable())
	assert.True(t, (&conn.ConnectError{Kind: conn.ErrUnreachable}).Retryable())
}
