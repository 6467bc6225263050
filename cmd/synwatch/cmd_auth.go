package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/synwatch/synwatch/verifier/console/auth"
)

// authOptions: `synwatch auth add-user|add-token --auth FILE --role ROLE NAME`.
type authOptions struct {
	file string
	role string
	name string
}

func newAuthCmd(env *Env) *cobra.Command {
	c := groupCmd(env, &cobra.Command{
		Use:   "auth",
		Short: "console users and API tokens: add-user, add-token, remove-user, remove-token, list",
		Long: `Manage the console's auth file: users with argon2id password hashes and
roles (viewer reads, operator acts, admin manages users and tokens), and API
tokens, of which only a hash is kept. A running console reads the file again
when it changes.`,
	})
	c.AddCommand(newAuthAddUserCmd(env), newAuthAddTokenCmd(env), newAuthRemoveCmd(env, "user"), newAuthRemoveCmd(env, "token"), newAuthListCmd(env))
	return c
}

func (o *authOptions) register(c *cobra.Command) {
	c.Flags().StringVar(&o.file, "auth", "", "the auth `FILE` (created with mode 0600 when missing)")
	c.Flags().StringVar(&o.role, "role", "viewer", "`ROLE`: viewer, operator or admin")
	_ = c.MarkFlagRequired("auth")
}

func newAuthAddUserCmd(env *Env) *cobra.Command {
	var o authOptions
	c := &cobra.Command{
		Use:   "add-user --auth FILE --role viewer|operator|admin NAME",
		Short: "add a console user (or set a user's role and password); the password is read from standard input",
		Example: `  read -rs PW && printf '%s\n' "$PW" | synwatch auth add-user --auth /etc/synwatch/console-auth.yml --role operator alice
  synwatch auth add-user --auth console-auth.yml --role viewer noc < password.txt`,
		Args: exactArgs(1, "NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			o.name = args[0]
			return runAuthAddUser(c.Context(), env, &o)
		},
	}
	o.register(c)
	return c
}

func newAuthAddTokenCmd(env *Env) *cobra.Command {
	var o authOptions
	c := &cobra.Command{
		Use:     "add-token --auth FILE --role viewer|operator|admin NAME",
		Short:   "create an API token; it is printed once and only its hash is kept",
		Example: `  synwatch auth add-token --auth /etc/synwatch/console-auth.yml --role operator ci`,
		Args:    exactArgs(1, "NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			o.name = args[0]
			return runAuthAddToken(c.Context(), env, &o)
		},
	}
	o.register(c)
	return c
}

// readPassword reads one line; a terminal gets a prompt on stderr.
func readPassword(env *Env) (string, error) {
	in := env.Stdin
	if in == nil {
		in = os.Stdin
	}
	if f, ok := in.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprint(env.Stderr, "password (input is shown; pipe it in to hide it): ")
		}
	}
	line, err := bufio.NewReader(io.LimitReader(in, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func runAuthAddUser(ctx context.Context, env *Env, o *authOptions) error {
	role, err := auth.ParseRole(o.role)
	if err != nil {
		return usagef("--role: %v", err)
	}
	f, err := auth.LoadOrNew(o.file)
	if err != nil {
		return err
	}
	pw, err := readPassword(env)
	if err != nil {
		return err
	}
	if pw == "" {
		return usagef("no password on standard input")
	}
	if err := f.SetUser(o.name, role, pw); err != nil {
		return err
	}
	if err := f.Save(o.file); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "user %s (%s) saved in %s\n", o.name, role, o.file)
	return nil
}

func runAuthAddToken(ctx context.Context, env *Env, o *authOptions) error {
	role, err := auth.ParseRole(o.role)
	if err != nil {
		return usagef("--role: %v", err)
	}
	f, err := auth.LoadOrNew(o.file)
	if err != nil {
		return err
	}
	tok, err := f.AddToken(o.name, role)
	if err != nil {
		return err
	}
	if err := f.Save(o.file); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, tok)
	fmt.Fprintf(env.Stderr, "token %s (%s) saved in %s as a hash: this is the only time it is shown\n", o.name, role, o.file)
	return nil
}

func newAuthRemoveCmd(env *Env, what string) *cobra.Command {
	var o authOptions
	c := &cobra.Command{
		Use:     "remove-" + what + " --auth FILE NAME",
		Short:   "remove a " + what + " from the auth file (a running console reads it again within seconds)",
		Example: "  synwatch auth remove-" + what + " --auth /etc/synwatch/console-auth.yml NAME",
		Args:    exactArgs(1, "NAME"),
		RunE: func(c *cobra.Command, args []string) error {
			o.name = args[0]
			return runAuthRemove(c.Context(), env, &o, what)
		},
	}
	c.Flags().StringVar(&o.file, "auth", "", "the auth `FILE`")
	_ = c.MarkFlagRequired("auth")
	return c
}

func runAuthRemove(ctx context.Context, env *Env, o *authOptions, what string) error {
	f, err := auth.Load(o.file)
	if err != nil {
		return err
	}
	if what == "user" {
		err = f.RemoveUser(o.name)
	} else {
		err = f.RemoveToken(o.name)
	}
	if err != nil {
		return err
	}
	if err := f.Save(o.file); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "%s %s removed from %s\n", what, o.name, o.file)
	return nil
}

type authListOptions struct {
	file   string
	format string
}

func newAuthListCmd(env *Env) *cobra.Command {
	var o authListOptions
	c := &cobra.Command{
		Use:     "list --auth FILE [--format table|json]",
		Short:   "list the users and tokens of the auth file (never a hash)",
		Example: "  synwatch auth list --auth /etc/synwatch/console-auth.yml",
		Args:    exactArgs(0, ""),
		RunE: func(c *cobra.Command, args []string) error {
			if o.format != "table" && o.format != "json" {
				return usagef("--format %q: want table or json", o.format)
			}
			return runAuthList(c.Context(), env, &o)
		},
	}
	c.Flags().StringVar(&o.file, "auth", "", "the auth `FILE`")
	c.Flags().StringVar(&o.format, "format", "table", "table or json")
	_ = c.MarkFlagRequired("auth")
	return c
}

// authEntry is one line of auth list.
type authEntry struct {
	Kind  string `json:"kind"` // user, token
	Name  string `json:"name"`
	Role  string `json:"role"`
	Signs string `json:"signs_in_with,omitempty"` // password, proxy (users)
}

func runAuthList(ctx context.Context, env *Env, o *authListOptions) error {
	f, err := auth.Load(o.file)
	if err != nil {
		return err
	}
	out := []authEntry{}
	for _, u := range f.Users {
		signs := "password"
		if u.Hash == "" {
			signs = "proxy"
		}
		out = append(out, authEntry{Kind: "user", Name: u.Name, Role: string(u.Role), Signs: signs})
	}
	for _, t := range f.Tokens {
		out = append(out, authEntry{Kind: "token", Name: t.Name, Role: string(t.Role)})
	}
	if o.format == "json" {
		e := json.NewEncoder(env.Stdout)
		e.SetIndent("", "  ")
		return e.Encode(out)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tROLE\tSIGNS IN WITH")
	for _, e := range out {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Kind, e.Name, e.Role, orDash(e.Signs, "-"))
	}
	return tw.Flush()
}
