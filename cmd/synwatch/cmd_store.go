package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/synwatch/synwatch/internal/config"
	"github.com/synwatch/synwatch/verifier/state"
)

func newStoreCmd(env *Env) *cobra.Command {
	c := groupCmd(env, &cobra.Command{
		Use:   "store",
		Short: "embedded store tools: check, backup, rebuild (file: stores)",
	})
	c.AddCommand(newStoreCheckCmd(env), newStoreBackupCmd(env), newStoreRebuildCmd(env))
	return c
}

type storeFileOptions struct {
	store  storeOptions
	out    string
	format string
}

// path resolves --store (or store.url) to the path of a file: store.
func (o *storeFileOptions) path() (string, error) {
	cfg, err := config.Load(configPath(o.store.config))
	if err != nil {
		return "", err
	}
	url := cfg.Store.URL
	if o.store.store != "" {
		url = o.store.store
	}
	path, ok := strings.CutPrefix(url, "file:")
	path = strings.TrimPrefix(path, "//")
	if !ok || path == "" {
		return "", usagef("--store: want file:PATH (these tools are for the embedded store; Redis has its own: redis-cli --rdb, BGSAVE)")
	}
	return path, nil
}

// `synwatch store check` reads the whole embedded store and says what is
// damaged; it changes nothing. Exit 1 when anything is.
func newStoreCheckCmd(env *Env) *cobra.Command {
	var o storeFileOptions
	c := &cobra.Command{
		Use:   "check --store file:PATH [--format text|json]",
		Short: "check an embedded store file: damaged pages, unreadable records (exit 1 when any)",
		Example: `  synwatch store check --store file:/var/lib/synwatch/inventory.db
  synwatch store check --store file:inventory.db --format json`,
		Args: exactArgs(0, ""),
		RunE: func(c *cobra.Command, args []string) error { return runStoreCheck(c.Context(), env, &o) },
	}
	o.store.register(c.Flags())
	c.Flags().StringVar(&o.format, "format", "text", "output: text or json")
	return c
}

func runStoreCheck(ctx context.Context, env *Env, o *storeFileOptions) error {
	if o.format != "text" && o.format != "json" {
		return usagef("--format %q: want text or json", o.format)
	}
	path, err := o.path()
	if err != nil {
		return err
	}
	rep, err := state.CheckFile(ctx, path)
	if err != nil {
		return err
	}
	if o.format == "json" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintf(env.Stdout, "%s\n", b)
	} else {
		state := "ok"
		if !rep.OK {
			state = "DAMAGED"
		}
		fmt.Fprintf(env.Stdout, "%s: %s (%d bytes; %d readable records, %d changes)\n", path, state, rep.SizeBytes, rep.Records, rep.Changes)
		for _, p := range rep.Problems {
			fmt.Fprintf(env.Stdout, "  damaged: %s\n", p)
		}
		for _, u := range rep.Unreadable {
			fmt.Fprintf(env.Stdout, "  unreadable record: %s\n", u)
		}
		if !rep.OK {
			fmt.Fprintf(env.Stdout, "recover: synwatch store rebuild --store file:%s --out NEW.db, check NEW.db, then move it into place with synwatch stopped (or restore store.backup_file)\n", path)
		}
	}
	if !rep.OK {
		return errors.New("the store is damaged")
	}
	return nil
}

// `synwatch store backup` writes a consistent copy of a store nobody holds.
// A running synwatch holds its store: set store.backup_file in its config
// and it writes the copy itself.
func newStoreBackupCmd(env *Env) *cobra.Command {
	var o storeFileOptions
	c := &cobra.Command{
		Use:   "backup --store file:PATH --out FILE",
		Short: "write a consistent copy of an embedded store (while running: store.backup_file)",
		Example: `  synwatch store backup --store file:inventory.db --out inventory.backup.db
  # while synwatch runs, in its config:
  #   store: {url: "file:/var/lib/synwatch/inventory.db", backup_file: /var/backups/synwatch.db, backup_interval: 1h}`,
		Args: exactArgs(0, ""),
		RunE: func(c *cobra.Command, args []string) error { return runStoreBackup(c.Context(), env, &o) },
	}
	o.store.register(c.Flags())
	c.Flags().StringVar(&o.out, "out", "", "the copy's `FILE` (replaced whole, never half written)")
	return c
}

func runStoreBackup(ctx context.Context, env *Env, o *storeFileOptions) error {
	if o.out == "" {
		return usagef("--out FILE is required")
	}
	path, err := o.path()
	if err != nil {
		return err
	}
	f, err := state.OpenFileForReading(path)
	if err != nil {
		if strings.Contains(err.Error(), "store in use") {
			return fmt.Errorf("%w: the process holding it writes backups itself when store.backup_file is set in its config", err)
		}
		return err
	}
	defer f.Close()
	if err := f.Damage(); err != nil {
		return fmt.Errorf("%w; a backup would copy the damage", err)
	}
	if err := f.Backup(ctx, o.out); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s: consistent copy of %s\n", o.out, path)
	return nil
}

// `synwatch store rebuild` copies what is readable of a damaged store into
// a new file.
func newStoreRebuildCmd(env *Env) *cobra.Command {
	var o storeFileOptions
	c := &cobra.Command{
		Use:   "rebuild --store file:PATH --out NEW [--format text|json]",
		Short: "copy everything readable of a damaged embedded store into a new file",
		Example: `  synwatch store rebuild --store file:inventory.db --out inventory.rebuilt.db
  synwatch store check --store file:inventory.rebuilt.db && mv inventory.rebuilt.db inventory.db`,
		Args: exactArgs(0, ""),
		RunE: func(c *cobra.Command, args []string) error { return runStoreRebuild(c.Context(), env, &o) },
	}
	o.store.register(c.Flags())
	c.Flags().StringVar(&o.out, "out", "", "the new store `FILE` (must not exist)")
	c.Flags().StringVar(&o.format, "format", "text", "output: text or json")
	return c
}

func runStoreRebuild(ctx context.Context, env *Env, o *storeFileOptions) error {
	if o.out == "" {
		return usagef("--out NEW is required")
	}
	if o.format != "text" && o.format != "json" {
		return usagef("--format %q: want text or json", o.format)
	}
	path, err := o.path()
	if err != nil {
		return err
	}
	rep, err := state.Rebuild(ctx, path, o.out)
	if err != nil {
		return err
	}
	if o.format == "json" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintf(env.Stdout, "%s\n", b)
		return nil
	}
	fmt.Fprintf(env.Stdout, "%s: rebuilt from %s\n", o.out, path)
	for b, n := range rep.Copied {
		fmt.Fprintf(env.Stdout, "  %s: %d keys copied\n", b, n)
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(env.Stdout, "  left out: %s\n", s)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(env.Stdout, "  lost with a damaged page: %s\n", p)
	}
	return nil
}

// warnDamage says on stderr what a damaged embedded store could not give a
// reading command (exposures, report), which shows the rest.
func warnDamage(env *Env, cmd string, st state.Store) {
	f, ok := st.(*state.File)
	if !ok {
		return
	}
	if err := f.Damage(); err != nil {
		fmt.Fprintf(env.Stderr, "synwatch %s: warning: %v; showing what could be read\n", cmd, err)
	}
	if u := f.Unreadable(); len(u) > 0 {
		fmt.Fprintf(env.Stderr, "synwatch %s: warning: %d unreadable record(s) skipped (synwatch store check lists them)\n", cmd, len(u))
	}
}
