// Package chaos holds the fault-injection suite: `make chaos`, or
// go test -tags chaos -v ./internal/chaos. See chaos_test.go.
package chaos
