package conn_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bulwarkgo/bulwark/conn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBuildDefaults(t *testing.T) {
	s, err := conn.Build()
	require.NoError(t, err)
	assert.Equal(t, conn.DefaultClientID, s.ClientID)
	assert.Equal(t, conn.DefaultKafkaVersion, s.KafkaVersion)
	assert.Equal(t, conn.DefaultDialTimeout, s.DialTimeout)
	assert.Equal(t, conn.DefaultMetadataRetries, s.MetadataRetries)
	assert.Equal(t, conn.DefaultRetryBackoff, s.RetryBackoff)
}

func TestWithRackID(t *testing.T) {
	for _, rack := range []string{"eu-west-1a", "use1-az1", "rack 7", "dc1/row2:rack3"} {
		s, err := conn.Build(conn.WithRackID(rack))
		require.NoError(t, err, rack)
		assert.Equal(t, rack, s.RackID)
	}
	for _, rack := range []string{" eu-west-1a", "eu-west-1a\n", "a\x00b", strings.Repeat("r", 256)} {
		_, err := conn.Build(conn.WithRackID(rack))
		var se *conn.SettingError
		require.ErrorAs(t, err, &se, "%q", rack)
		assert.Equal(t, "rack_id", se.Setting)
		assert.ErrorIs(t, err, conn.ErrInvalidSettings)
	}
}

func TestBuildRejectsBadBasics(t *testing.T) {
	cases := map[string]struct {
		opt     conn.Option
		setting string
	}{
		"client ID":        {conn.WithClientID("has space"), "client_id"},
		"kafka version":    {conn.WithKafkaVersion("3.6"), "kafka_version"},
		"dial timeout":     {conn.WithDialTimeout(0), "dial_timeout"},
		"metadata retries": {conn.WithMetadataRetries(-1), "metadata_retries"},
		"retry backoff":    {conn.WithRetryBackoff(-time.Second), "retry_backoff"},
		"nil dialer":       {conn.WithDialer(nil), "dialer"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := conn.Build(tc.opt)
			var se *conn.SettingError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.setting, se.Setting)
			assert.ErrorIs(t, err, conn.ErrInvalidSettings)
		})
	}
}
