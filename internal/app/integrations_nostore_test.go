package app

import (
	"context"
	"fmt"
	"runtime/debug"
	"testing"
)

// TestIntegrationWithoutStoreDoesNotPanic: 'integrations test' runs
// without a database; for every registered type, testing an integration
// answers (a notification sent or an error), and never panics.
func TestIntegrationWithoutStoreDoesNotPanic(t *testing.T) {
	for _, typ := range IntegrationTypes() {
		t.Run(typ, func(t *testing.T) {
			a, err := NewWithoutStore(Options{})
			if err != nil {
				t.Fatal(err)
			}
			a.Options.Integrations = integrationsConfig(t, "services:\n  - name: x\n    type: "+typ+"\n")
			err = func() (err error) {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
					}
				}()
				_, err = a.TestIntegration(context.Background(), "x")
				return nil
			}()
			if err != nil {
				t.Errorf("integrations test of a %s without a store: %v", typ, err)
			}
		})
	}
}
