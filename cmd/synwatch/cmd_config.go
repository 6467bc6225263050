package main

import (
	"context"
	"fmt"

	"github.com/synwatch/synwatch/internal/config"
)

// cmdConfig: `synwatch config check FILE` prints every problem with its key
// and line, or "ok".
func cmdConfig(ctx context.Context, env *Env, args []string) error {
	if len(args) != 2 || args[0] != "check" {
		return usagef("usage: synwatch config check FILE")
	}
	if _, err := config.Load(args[1]); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s: ok\n", args[1])
	return nil
}
