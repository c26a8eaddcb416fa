package conn_test

import (
	"errors"
	"fmt"

	"github.com/bulwarkgo/bulwark/conn"
)

func Example() {
	s, err := conn.Build(
		conn.WithClientID("orders-api"),
		conn.WithSASL("scram-sha-512", "orders-api", "s3cret"),
		conn.WithRackID("eu-west-1a"),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.ClientID, s.SASL, s.RackID)

	// Mistakes fail at start, with the setting named.
	_, err = conn.Build(conn.WithSASL("GSSAPI", "orders-api", "s3cret"))
	fmt.Println(errors.Is(err, conn.ErrInvalidSettings))
	fmt.Println(err)
	// Output:
	// orders-api orders-api (SCRAM-SHA-512) eu-west-1a
	// true
	// conn: invalid settings: sasl.mechanism: unknown SASL mechanism "GSSAPI" (want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)
}
