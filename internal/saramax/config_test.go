package saramax_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/bulwarkgo/bulwark/conn"
	"github.com/bulwarkgo/bulwark/internal/saramax"
	"github.com/bulwarkgo/bulwark/kafkatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

// connectBound is how long a refused connection may take to be reported.
// With the default three metadata retries it takes about a second; the
// bound only catches a hang or an endless retry loop.
const connectBound = 20 * time.Second

// verifyNoLeaks checks, after every later cleanup (the cluster's Close
// included), that no goroutine of the test is left.
//
// go-metrics starts one ticker goroutine per process the first time sarama
// registers a meter, and offers no way to stop it.
func verifyNoLeaks(t *testing.T) {
	t.Cleanup(func() {
		goleak.VerifyNone(t, goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"))
	})
}

// connect builds a sarama client the way producer, consumer and eos do
// (conn.Build -> NewConfig -> Validate), fetches the cluster's metadata and
// returns the topics it sees, or the classified error.
func connect(t *testing.T, brokers []string, opts ...conn.Option) ([]string, error) {
	t.Helper()
	s, err := conn.Build(opts...)
	if err != nil {
		return nil, err
	}
	cfg, err := saramax.NewConfig(s)
	require.NoError(t, err)
	require.NoError(t, saramax.Validate(cfg))

	type result struct {
		topics []string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		client, err := sarama.NewClient(brokers, cfg)
		if err != nil {
			done <- result{err: saramax.ExplainConnectError(err, brokers, cfg, s)}
			return
		}
		defer client.Close()
		topics, err := client.Topics()
		done <- result{topics: topics, err: saramax.ClassifyConnectError(err, s)}
	}()
	select {
	case r := <-done:
		return r.topics, r.err
	case <-time.After(connectBound):
		t.Fatalf("connecting did not finish within %v", connectBound)
		return nil, nil
	}
}

func TestNewConfigMapsSASLMechanisms(t *testing.T) {
	cases := map[string]string{
		conn.SASLPlain:       sarama.SASLTypePlaintext,
		conn.SASLSCRAMSHA256: sarama.SASLTypeSCRAMSHA256,
		conn.SASLSCRAMSHA512: sarama.SASLTypeSCRAMSHA512,
	}
	for mech, want := range cases {
		s, err := conn.Build(conn.WithSASL(mech, "alice", "secret"))
		require.NoError(t, err)
		cfg, err := saramax.NewConfig(s)
		require.NoError(t, err)
		require.NoError(t, saramax.Validate(cfg))
		assert.True(t, cfg.Net.SASL.Enable)
		assert.Equal(t, sarama.SASLMechanism(want), cfg.Net.SASL.Mechanism)
		assert.Equal(t, "alice", cfg.Net.SASL.User)
		assert.Equal(t, "secret", cfg.Net.SASL.Password)
		if mech != conn.SASLPlain {
			require.NotNil(t, cfg.Net.SASL.SCRAMClientGeneratorFunc)
			assert.NoError(t, cfg.Net.SASL.SCRAMClientGeneratorFunc().Begin("alice", "secret", ""))
		}
	}
}

func TestNewConfigMapsRackAndTLS(t *testing.T) {
	tlsCfg := &tls.Config{ServerName: "kafka.internal", MinVersion: tls.VersionTLS12}
	s, err := conn.Build(conn.WithRackID("eu-west-1a"), conn.WithTLS(tlsCfg))
	require.NoError(t, err)
	cfg, err := saramax.NewConfig(s)
	require.NoError(t, err)
	assert.Equal(t, "eu-west-1a", cfg.RackID)
	// The handshake runs in our dialer, under the dial timeout; sarama's own
	// TLS would wrap the connection a second time.
	assert.False(t, cfg.Net.TLS.Enable)
	assert.True(t, cfg.Net.Proxy.Enable)
	assert.False(t, cfg.Net.SASL.Enable)
}

// kfake has no OAUTHBEARER, so the mapping is tested here: the mechanism is
// set, sarama's provider calls our token source with a bounded context, and
// a failing or empty token is reported as a token-source failure.
func TestNewConfigMapsOAuthBearer(t *testing.T) {
	var calls atomic.Int32
	var sawDeadline atomic.Bool
	src := conn.TokenSourceFunc(func(ctx context.Context) (string, error) {
		calls.Add(1)
		_, ok := ctx.Deadline()
		sawDeadline.Store(ok)
		return "token-1", nil
	})
	s, err := conn.Build(conn.WithOAuthBearer(src), conn.WithDialTimeout(3*time.Second))
	require.NoError(t, err)
	cfg, err := saramax.NewConfig(s)
	require.NoError(t, err)
	require.NoError(t, saramax.Validate(cfg))
	assert.True(t, cfg.Net.SASL.Enable)
	assert.Equal(t, sarama.SASLMechanism(sarama.SASLTypeOAuth), cfg.Net.SASL.Mechanism)
	require.NotNil(t, cfg.Net.SASL.TokenProvider)
	tok, err := cfg.Net.SASL.TokenProvider.Token()
	require.NoError(t, err)
	assert.Equal(t, "token-1", tok.Token)
	assert.Equal(t, int32(1), calls.Load())
	assert.True(t, sawDeadline.Load(), "the token source must get a bounded context")

	for name, src := range map[string]conn.TokenSourceFunc{
		"error": func(context.Context) (string, error) { return "", errors.New("idp down") },
		"empty": func(context.Context) (string, error) { return "", nil },
	} {
		t.Run(name, func(t *testing.T) {
			s, err := conn.Build(conn.WithOAuthBearer(src))
			require.NoError(t, err)
			cfg, err := saramax.NewConfig(s)
			require.NoError(t, err)
			_, err = cfg.Net.SASL.TokenProvider.Token()
			require.Error(t, err)
			classified := saramax.ClassifyConnectError(sarama.Wrap(sarama.ErrOutOfBrokers, err), s)
			assert.ErrorIs(t, classified, conn.ErrAuthentication)
			assert.Contains(t, classified.Error(), "token source")
		})
	}
}

// A token source that hangs is cut off by the dial timeout.
func TestOAuthBearerTokenSourceIsBounded(t *testing.T) {
	src := conn.TokenSourceFunc(func(ctx context.Context) (string, error) {
		<-ctx.Done()
		return "", ctx.Err()
	})
	s, err := conn.Build(conn.WithOAuthBearer(src), conn.WithDialTimeout(50*time.Millisecond))
	require.NoError(t, err)
	cfg, err := saramax.NewConfig(s)
	require.NoError(t, err)
	_, err = cfg.Net.SASL.TokenProvider.Token()
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// End to end over the wire with sarama's mock broker (kfake does not
// speak OAUTHBEARER): the token our source returns is what the broker gets.
func TestOAuthBearerTokenReachesBroker(t *testing.T) {
	broker := sarama.NewMockBroker(t, 1)
	defer broker.Close()
	broker.SetHandlerByMap(map[string]sarama.MockResponse{
		"SaslHandshakeRequest":    sarama.NewMockSaslHandshakeResponse(t).SetEnabledMechanisms([]string{sarama.SASLTypeOAuth}),
		"SaslAuthenticateRequest": sarama.NewMockSaslAuthenticateResponse(t),
		"ApiVersionsRequest": sarama.NewMockApiVersionsResponse(t).SetApiKeys([]sarama.ApiVersionsResponseKey{
			{ApiKey: 3, MinVersion: 0, MaxVersion: 12}, // Metadata
			{ApiKey: 17, MinVersion: 0, MaxVersion: 1}, // SaslHandshake
			{ApiKey: 18, MinVersion: 0, MaxVersion: 3}, // ApiVersions
			{ApiKey: 36, MinVersion: 0, MaxVersion: 2}, // SaslAuthenticate
		}),
		"MetadataRequest": sarama.NewMockMetadataResponse(t).
			SetBroker(broker.Addr(), broker.BrokerID()).
			SetLeader("orders", 0, broker.BrokerID()),
	})
	src := conn.TokenSourceFunc(func(context.Context) (string, error) { return "eyJ.token.sig", nil })
	topics, err := connect(t, []string{broker.Addr()}, conn.WithOAuthBearer(src), conn.WithMetadataRetries(0))
	require.NoError(t, err)
	assert.Equal(t, []string{"orders"}, topics)

	var sent []string
	for _, rr := range broker.History() {
		if req, ok := rr.Request.(*sarama.SaslAuthenticateRequest); ok {
			sent = append(sent, string(req.SaslAuthBytes))
		}
	}
	require.NotEmpty(t, sent, "no SaslAuthenticate request reached the broker")
	assert.Equal(t, "n,,\x01auth=Bearer eyJ.token.sig\x01\x01", sent[0])
}

func TestNewConfigRejectsUnbuiltBadSASL(t *testing.T) {
	// Settings assembled by hand skip conn.Build's validation.
	_, err := saramax.NewConfig(conn.Settings{KafkaVersion: "3.6.0", SASL: &conn.SASL{Mechanism: "GSSAPI", User: "a", Password: "b"}})
	assert.ErrorIs(t, err, conn.ErrInvalidSettings)
	_, err = saramax.NewConfig(conn.Settings{KafkaVersion: "3.6.0", SASL: &conn.SASL{Mechanism: conn.SASLOAuthBearer}})
	assert.ErrorIs(t, err, conn.ErrInvalidSettings)
}

var mechanisms = []string{conn.SASLPlain, conn.SASLSCRAMSHA256, conn.SASLSCRAMSHA512}

func TestSASLOverTLSAgainstCluster(t *testing.T) {
	verifyNoLeaks(t)
	for _, mech := range mechanisms {
		t.Run(mech, func(t *testing.T) {
			c := kafkatest.NewCluster(t, kafkatest.WithBrokers(1), kafkatest.WithTLS(),
				kafkatest.WithSASLUser(mech, "alice", "right-password"),
				kafkatest.WithTopic("orders", 3))
			brokers := c.Brokers()

			t.Run("right credentials", func(t *testing.T) {
				topics, err := connect(t, brokers, c.ConnOptions()...)
				require.NoError(t, err)
				assert.Contains(t, topics, "orders")
			})
			t.Run("wrong password", func(t *testing.T) {
				_, err := connect(t, brokers, conn.WithTLS(c.ClientTLS()), conn.WithSASL(mech, "alice", "wrong-password"))
				require.Error(t, err)
				assert.ErrorIs(t, err, conn.ErrAuthentication)
				assert.Contains(t, err.Error(), fmt.Sprintf("SASL authentication as alice (%s) failed or was refused", mech))
				assert.NotContains(t, err.Error(), "wrong-password")
				var ce *conn.ConnectError
				require.ErrorAs(t, err, &ce)
				assert.False(t, ce.Retryable())
			})
			t.Run("unknown user", func(t *testing.T) {
				_, err := connect(t, brokers, conn.WithTLS(c.ClientTLS()), conn.WithSASL(mech, "mallory", "right-password"))
				assert.ErrorIs(t, err, conn.ErrAuthentication)
			})
			t.Run("mechanism the user has no credentials for", func(t *testing.T) {
				other := conn.SASLSCRAMSHA512
				if mech == conn.SASLSCRAMSHA512 {
					other = conn.SASLSCRAMSHA256
				}
				_, err := connect(t, brokers, conn.WithTLS(c.ClientTLS()), conn.WithSASL(other, "alice", "right-password"))
				assert.ErrorIs(t, err, conn.ErrAuthentication)
			})
			// The broker hangs up on a plaintext client before any SASL:
			// that must not be blamed on the credentials.
			t.Run("no TLS", func(t *testing.T) {
				_, err := connect(t, brokers, conn.WithSASL(mech, "alice", "right-password"))
				require.Error(t, err)
				assert.ErrorIs(t, err, conn.ErrUnreachable, "got %v", err)
				assert.NotErrorIs(t, err, conn.ErrAuthentication)
				assert.Contains(t, err.Error(), "does its listener expect TLS")
			})
		})
	}
}

func TestUnknownMechanismFailsBeforeConnecting(t *testing.T) {
	start := time.Now()
	_, err := connect(t, []string{"127.0.0.1:1"}, conn.WithSASL("SCRAM-SHA-1", "alice", "pw"))
	assert.ErrorIs(t, err, conn.ErrInvalidSettings)
	var se *conn.SettingError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "sasl.mechanism", se.Setting)
	assert.Less(t, time.Since(start), time.Second, "validation must not dial")
}

func TestMechanismTheBrokerDoesNotOfferIsAnAuthenticationError(t *testing.T) {
	verifyNoLeaks(t)
	c := kafkatest.NewCluster(t, kafkatest.WithBrokers(1), kafkatest.WithSASLUser(conn.SASLPlain, "alice", "pw"))
	var tokens atomic.Int32
	src := conn.TokenSourceFunc(func(context.Context) (string, error) { tokens.Add(1); return "tok", nil })
	_, err := connect(t, c.Brokers(), conn.WithOAuthBearer(src))
	require.Error(t, err)
	assert.ErrorIs(t, err, conn.ErrAuthentication)
	assert.ErrorIs(t, err, sarama.ErrUnsupportedSASLMechanism)
	assert.Contains(t, err.Error(), "does not accept SASL mechanism OAUTHBEARER")
	assert.Zero(t, tokens.Load(), "no token is needed when the handshake already fails")
}

func TestUntrustedCertificateIsATLSError(t *testing.T) {
	verifyNoLeaks(t)
	c := kafkatest.NewCluster(t, kafkatest.WithBrokers(1), kafkatest.WithTLS())
	stranger := newTestCert(t, "some-other-ca", nil)
	strangerCA, _ := stranger.files(t)

	for name, opt := range map[string]conn.Option{
		"system roots":    conn.WithTLS(nil),
		"another CA file": conn.WithTLSFiles(strangerCA, "", ""),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := connect(t, c.Brokers(), opt)
			require.Error(t, err)
			assert.ErrorIs(t, err, conn.ErrTLS)
			assert.Contains(t, err.Error(), "certificate signed by unknown authority")
			var ce *conn.ConnectError
			require.ErrorAs(t, err, &ce)
			assert.False(t, ce.Retryable())
		})
	}
}

func TestTLSFilesAgainstCluster(t *testing.T) {
	verifyNoLeaks(t)
	c := kafkatest.NewCluster(t, kafkatest.WithBrokers(1), kafkatest.WithTLS(), kafkatest.WithTopic("orders", 1))
	caFile := serverCertificatePEM(t, c.Brokers()[0])
	topics, err := connect(t, c.Brokers(), conn.WithTLSFiles(caFile, "", ""))
	require.NoError(t, err)
	assert.Contains(t, topics, "orders")
}

// Mutual TLS needs a listener that asks for client certificates, which
// kafkatest does not offer, so this starts kfake directly.
func TestMutualTLSAgainstCluster(t *testing.T) {
	verifyNoLeaks(t)
	ca := newTestCert(t, "test-ca", nil)
	server := newTestCert(t, "broker", ca)
	client := newTestCert(t, "client", ca)
	outsider := newTestCert(t, "outsider", newTestCert(t, "other-ca", nil))

	kf, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders"), kfake.TLS(&tls.Config{
		Certificates: []tls.Certificate{server.tlsCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.pool(),
		MinVersion:   tls.VersionTLS12,
	}))
	require.NoError(t, err)
	t.Cleanup(kf.Close)
	brokers := kf.ListenAddrs()

	caFile := writePEM(t, "CERTIFICATE", ca.der)
	clientCert, clientKey := client.files(t)
	outsiderCert, outsiderKey := outsider.files(t)

	t.Run("trusted client certificate", func(t *testing.T) {
		topics, err := connect(t, brokers, conn.WithTLSFiles(caFile, clientCert, clientKey))
		require.NoError(t, err)
		assert.Contains(t, topics, "orders")
	})
	t.Run("no client certificate", func(t *testing.T) {
		_, err := connect(t, brokers, conn.WithTLSFiles(caFile, "", ""))
		require.Error(t, err)
		assert.ErrorIs(t, err, conn.ErrTLS, "got %v", err)
	})
	t.Run("client certificate from another CA", func(t *testing.T) {
		_, err := connect(t, brokers, conn.WithTLSFiles(caFile, outsiderCert, outsiderKey))
		require.Error(t, err)
		assert.ErrorIs(t, err, conn.ErrTLS, "got %v", err)
	})
}

func TestPlaintextMismatchIsClassified(t *testing.T) {
	verifyNoLeaks(t)
	tlsCluster := kafkatest.NewCluster(t, kafkatest.WithBrokers(1), kafkatest.WithTLS())

	t.Run("plaintext client, TLS listener", func(t *testing.T) {
		_, err := connect(t, tlsCluster.Brokers())
		require.Error(t, err)
		assert.ErrorIs(t, err, conn.ErrUnreachable, "got %v", err)
		assert.Contains(t, err.Error(), "does its listener expect TLS")
	})
	// kfake reads a TLS ClientHello as the length of a huge request and
	// waits for the rest until the client's read timeout (30s, per retry);
	// a real broker closes the connection at once, which this listener
	// imitates.
	t.Run("TLS client, listener that hangs up", func(t *testing.T) {
		addr := hangUpListener(t)
		_, err := connect(t, []string{addr}, conn.WithTLS(&tls.Config{MinVersion: tls.VersionTLS12}), conn.WithMetadataRetries(0))
		require.Error(t, err)
		assert.ErrorIs(t, err, conn.ErrUnreachable, "got %v", err)
		assert.Contains(t, err.Error(), "plaintext rather than TLS")
	})
}

// hangUpListener accepts connections and closes them without a word.
func hangUpListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = l.Close(); <-stopped })
	return l.Addr().String()
}

func TestUnreachableCluster(t *testing.T) {
	verifyNoLeaks(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now

	_, err = connect(t, []string{addr}, conn.WithSASL(conn.SASLSCRAMSHA512, "alice", "pw"))
	require.Error(t, err)
	assert.ErrorIs(t, err, conn.ErrUnreachable, "a refused dial is not an authentication failure")
	assert.ErrorIs(t, err, sarama.ErrOutOfBrokers)
	var ce *conn.ConnectError
	require.ErrorAs(t, err, &ce)
	assert.True(t, ce.Retryable())
}

// The rack reaches the broker in every fetch, which is what lets a rack-aware
// cluster answer from the closest replica.
func TestRackIDIsSentWithFetches(t *testing.T) {
	verifyNoLeaks(t)
	c := kafkatest.NewCluster(t, kafkatest.WithBrokers(1), kafkatest.WithTopic("orders", 1))
	racks := make(chan string, 16)
	c.Kfake().ControlKey(int16(kmsg.Fetch), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.Kfake().KeepControl()
		select {
		case racks <- kreq.(*kmsg.FetchRequest).Rack:
		default:
		}
		return nil, nil, false
	})

	s, err := conn.Build(conn.WithRackID("eu-west-1a"))
	require.NoError(t, err)
	cfg, err := saramax.NewConfig(s)
	require.NoError(t, err)
	consumer, err := sarama.NewConsumer(c.Brokers(), cfg)
	require.NoError(t, err)
	defer consumer.Close()
	pc, err := consumer.ConsumePartition("orders", 0, sarama.OffsetOldest)
	require.NoError(t, err)
	defer pc.Close()

	select {
	case rack := <-racks:
		assert.Equal(t, "eu-west-1a", rack)
	case <-time.After(10 * time.Second):
		t.Fatal("no fetch reached the broker")
	}
}

// Errors that are not about connecting pass through untouched.
func TestClassifyConnectErrorLeavesOtherErrorsAlone(t *testing.T) {
	s, err := conn.Build(conn.WithSASL(conn.SASLPlain, "alice", "pw"))
	require.NoError(t, err)
	assert.NoError(t, saramax.ClassifyConnectError(nil, s))
	for _, e := range []error{
		sarama.ErrUnknownTopicOrPartition,
		context.Canceled,
		fmt.Errorf("produce: %w", sarama.ErrNotLeaderForPartition),
	} {
		assert.True(t, e == saramax.ClassifyConnectError(e, s), "%v changed", e)
	}
	// Classifying twice keeps the first answer.
	once := saramax.ClassifyConnectError(sarama.Wrap(sarama.ErrOutOfBrokers, io.EOF), s)
	assert.True(t, once == saramax.ClassifyConnectError(once, s))
	assert.ErrorIs(t, once, conn.ErrAuthentication)
}

// sarama keeps no reason when brokers answered the SASL handshake with an
// error code; with SASL configured that still reads as an authentication
// problem, and wrapping by the caller does not change it.
func TestClassifyBareOutOfBrokers(t *testing.T) {
	bare := fmt.Errorf("consumer: start: %w", sarama.ErrOutOfBrokers)
	withSASL, err := conn.Build(conn.WithSASL(conn.SASLSCRAMSHA256, "alice", "pw"))
	require.NoError(t, err)
	got := saramax.ClassifyConnectError(bare, withSASL)
	assert.ErrorIs(t, got, conn.ErrAuthentication)
	assert.Contains(t, got.Error(), "alice (SCRAM-SHA-256)")

	plain, err := conn.Build()
	require.NoError(t, err)
	assert.ErrorIs(t, saramax.ClassifyConnectError(bare, plain), conn.ErrUnreachable)
}
