package schematest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/bulwarkgo/bulwark/schema"
	"github.com/bulwarkgo/bulwark/schema/schematest"
)

func Example() {
	ctx := context.Background()
	registry := schematest.NewServer(schematest.WithCompatibility(schema.CompatBackward))
	defer registry.Close()
	client, _ := schema.NewClient(registry.URL())
	defer client.Close()

	v1 := `{"type":"record","name":"Order","fields":[{"name":"orderId","type":"string"}]}`
	v2 := `{"type":"record","name":"Order","fields":[{"name":"orderId","type":"string"},{"name":"customerId","type":"string"}]}`
	id, _ := client.Register(ctx, "orders-value", schema.Schema{Text: v1})
	fmt.Println("v1 registered with ID", id)

	_, err := client.Register(ctx, "orders-value", schema.Schema{Text: v2})
	var re *schema.RegistryError
	if errors.As(err, &re) && errors.Is(err, schema.ErrIncompatibleSchema) {
		fmt.Println("v2 refused:", re.Reasons)
	}
	fmt.Println("requests served:", registry.Requests())
	// Output:
	// v1 registered with ID 1
	// v2 refused: [field customerId added without a default]
	// requests served: 2
}
