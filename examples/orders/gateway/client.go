package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/bulwarkgo/bulwark"
)

// ErrDeclined: the gateway refused the charge. It is of the permanent class:
// asking again will not help.
var ErrDeclined = errors.New("gateway: charge declined")

// Client calls the gateway.
type Client struct {
	BaseURL string
	HTTP    *http.Client
}

// Charge charges amountCents for orderID, with orderID as the idempotency
// key. It returns the charge ID, an error matching ErrDeclined (permanent)
// when declined, or a retryable error when the gateway failed or could not be
// reached.
func (c *Client) Charge(ctx context.Context, orderID string, amountCents int64) (string, error) {
	body, err := json.Marshal(Charge{OrderID: orderID, AmountCents: amountCents})
	if err != nil {
		return "", bulwark.Permanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+"/charges", bytes.NewReader(body))
	if err != nil {
		return "", bulwark.Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", orderID)
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("gateway: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated:
		var r Receipt
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			return "", fmt.Errorf("gateway: read receipt: %w", err)
		}
		return r.ChargeID, nil
	case resp.StatusCode == http.StatusPaymentRequired:
		return "", bulwark.Permanent(ErrDeclined)
	case resp.StatusCode >= 500:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		return "", fmt.Errorf("gateway: %s: %s", resp.Status, bytes.TrimSpace(msg))
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		return "", bulwark.Permanent(fmt.Errorf("gateway: %s: %s", resp.Status, bytes.TrimSpace(msg)))
	}
}
