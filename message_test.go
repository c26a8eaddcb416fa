package bulwark_test

import (
	"testing"

	"github.com/bulwarkgo/bulwark"
	"github.com/stretchr/testify/assert"
)

func TestHeaders(t *testing.T) {
	m := &bulwark.Message{Headers: []bulwark.Header{{Key: "a", Value: []byte("1")}, {Key: "a", Value: []byte("2")}}}
	v, ok := m.Header("a")
	assert.True(t, ok)
	assert.Equal(t, "2", string(v), "the last header of a repeated key wins")
	_, ok = m.Header("missing")
	assert.False(t, ok)

	m.SetHeader("a", []byte("3"))
	assert.Equal(t, []bulwark.Header{{Key: "a", Value: []byte("3")}}, m.Headers)

	assert.Equal(t, "", m.MessageID())
	m.SetHeader(bulwark.HeaderMessageID, []byte("id-1"))
	assert.Equal(t, "id-1", m.MessageID())
}

func TestCloneIsDeep(t *testing.T) {
	m := &bulwark.Message{Topic: "t", Key: []byte("k"), Value: []byte("v"), Headers: []bulwark.Header{{Key: "h", Value: []byte("x")}}}
	c := m.Clone()
	c.Key[0], c.Value[0], c.Headers[0].Value[0] = 'K', 'V', 'X'
	assert.Equal(t, "k", string(m.Key))
	assert.Equal(t, "v", string(m.Value))
	assert.Equal(t, "x", string(m.Headers[0].Value))
	assert.Equal(t, "t", c.Topic)
}
