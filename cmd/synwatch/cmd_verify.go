package main

import (
	"context"
	"errors"
)

// TODO(owner of this subcommand): replace this placeholder.
func cmdVerify(ctx context.Context, env *Env, args []string) error {
	return errors.New("not implemented yet")
}
