package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
	"github.com/patchpilot/patchpilot/internal/server"
)

func (c *cli) tokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke the API tokens of the patchpilot server",
		Long: `API tokens let people and programs use the patchpilot server. Each token
has a name and a role:

  viewer    reads everything, changes nothing
  operator  plans, starts, pauses, resumes, aborts and rolls back rollouts
  approver  also approves gated stages
  admin     also manages tokens, policies and schedules

A token's secret is shown once, when it is created; only its SHA-256 hash
is stored. Four-eyes: a token that started a rollout, or created the plan
it was started from, may not approve it. Creating and revoking tokens is
recorded in the audit log ('patchpilot audit') under the local user.`,
	}
	cmd.AddCommand(c.tokenCreateCommand(), c.tokenListCommand(), c.tokenRevokeCommand())
	return cmd
}

// createdToken is what 'token create' shows: the token and, once, its
// secret.
type createdToken struct {
	patchpilot.Token
	Secret string `json:"secret"`
}

const secretNotShownAgain = "This secret will not be shown again: store it now (only its hash is kept)."

func (c *cli) tokenCreateCommand() *cobra.Command {
	var role string
	cmd := &cobra.Command{
		Use:   "create NAME --role ROLE",
		Short: "Create an API token and print its secret, once",
		Long: `Create an API token named NAME (1 to 64 characters of a-z, 0-9, '.', '_'
and '-') with the role ROLE (viewer, operator, approver or admin), and print
its secret. The secret is printed this once and cannot be shown again: only
its SHA-256 hash is stored. A name is never reused, not even a revoked
token's (exit 1).

JSON fields: name, role, created_by, created_at, secret. With -o json or
-o yaml the reminder that the secret will not be shown again goes to
standard error.`,
		Example: `  patchpilot token create alice --role approver
  patchpilot token create ci --role operator -o json | jq -r .secret`,
		Args: exactArgs(1, "one token NAME"),
		PreRunE: func(*cobra.Command, []string) error {
			if role == "" {
				return patchpilot.Errorf(patchpilot.EINVALID, "--role is required: expected viewer, operator, approver or admin")
			}
			if _, err := app.ParseRole(role); err != nil {
				return patchpilot.Errorf(patchpilot.EINVALID, "--role %q: expected viewer, operator, approver or admin", role)
			}
			return nil
		},
		RunE: c.orRemote(func(cmd *cobra.Command, args []string, cl *server.Client) error {
			r, err := app.ParseRole(role)
			if err != nil {
				return err
			}
			secret, tk, err := cl.CreateToken(cmd.Context(), args[0], r)
			if err != nil {
				return err
			}
			return c.showCreatedToken(tk, secret)
		}, c.withApp(func(cmd *cobra.Command, args []string, a *app.App) error {
			r, err := app.ParseRole(role)
			if err != nil {
				return err
			}
			secret, tk, err := a.CreateToken(cmd.Context(), args[0], r, c.actor(a))
			if err != nil {
				return err
			}
			return c.showCreatedToken(tk, secret)
		})),
	}
	cmd.Flags().StringVar(&role, "role", "", "the token's role: viewer, operator, approver or admin (required)")
	return cmd
}

// showCreatedToken prints a new token and its secret, with the reminder
// that the secret is shown this once.
func (c *cli) showCreatedToken(tk patchpilot.Token, secret string) error {
	out := createdToken{Token: tk, Secret: secret}
	if f, _ := parseFormat(c.output); f != formatTable {
		c.note("%s\n", secretNotShownAgain)
	}
	return c.render(out, func(w io.Writer) {
		fmt.Fprintf(w, "Token %s created with the role %s. Its secret:\n\n%s\n\n%s\n", tk.Name, tk.Role, secret, secretNotShownAgain)
	})
}

func (c *cli) tokenListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the API tokens, revoked ones too, without their secrets",
		Long: `List every API token by name, with its role, who created it and when, when it
was last used (recorded at most once a minute) and whether it was revoked.
No secret or hash is ever shown.

JSON fields: name, role, created_by, created_at, last_used, revoked_at.`,
		Args: exactArgs(0, "no arguments"),
		RunE: c.orRemote(func(cmd *cobra.Command, _ []string, cl *server.Client) error {
			tokens, err := cl.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			return c.showTokens(tokens)
		}, c.withReadApp(func(cmd *cobra.Command, _ []string, a *app.App) error {
			tokens, err := a.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			return c.showTokens(tokens)
		})),
	}
}

// showTokens prints the token list.
func (c *cli) showTokens(tokens []patchpilot.Token) error {
	if tokens == nil {
		tokens = []patchpilot.Token{}
	}
	return c.render(tokens, func(w io.Writer) {
		if len(tokens) == 0 {
			fmt.Fprintln(w, "No tokens yet: create one with 'patchpilot token create NAME --role ROLE'.")
			return
		}
		fmt.Fprintln(w, "NAME\tROLE\tSTATE\tCREATED\tCREATED BY\tLAST USED")
		for _, tk := range tokens {
			state := "active"
			if tk.RevokedAt != nil {
				state = "revoked " + tk.RevokedAt.Local().Format(time.DateTime)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", tk.Name, tk.Role, state, tk.CreatedAt.Local().Format(time.DateTime),
				dash(tk.CreatedBy), localTime(tk.LastUsed))
		}
	})
}

// localTime shows an optional time in the table's layout, "-" for none.
func localTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}

func (c *cli) tokenRevokeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke an API token: it no longer authenticates",
		Long: `Revoke the token NAME: from now on its secret is refused (exit 6 for a
client that uses it). The token stays listed as revoked and its name is not
reused. Revoking a revoked token changes nothing; an unknown NAME exits 4.

JSON fields: the token, as 'token list' shows it.`,
		Args: exactArgs(1, "one token NAME"),
		RunE: c.orRemote(func(cmd *cobra.Command, args []string, cl *server.Client) error {
			if err := cl.RevokeToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			tokens, err := cl.Tokens(cmd.Context())
			return c.showRevoked(args[0], tokens, err)
		}, c.withApp(func(cmd *cobra.Command, args []string, a *app.App) error {
			if err := a.RevokeToken(cmd.Context(), args[0], c.actor(a)); err != nil {
				return err
			}
			tokens, err := a.Tokens(cmd.Context())
			return c.showRevoked(args[0], tokens, err)
		})),
	}
}

// showRevoked prints the token name as the list after its revocation
// shows it.
func (c *cli) showRevoked(name string, tokens []patchpilot.Token, err error) error {
	if err != nil {
		return err
	}
	for _, tk := range tokens {
		if tk.Name == name {
			return c.render(tk, func(w io.Writer) {
				fmt.Fprintf(w, "Token %s revoked at %s.\n", tk.Name, localTime(tk.RevokedAt))
			})
		}
	}
	return patchpilot.Errorf(patchpilot.EINTERNAL, "token %s was revoked but is no longer listed", name)
}

func (c *cli) auditCommand() *cobra.Command {
	var (
		f     patchpilot.AuditFilter
		since string
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List the audit log: who changed what, with which token, and how it ended",
		Long: `List the audit log, oldest first: every call that changed something (through
the server, and token creation and revocation here), with its actor
("token:NAME" or "user:NAME"), the token's name, the action, what it acted
on, the rollout concerned and the outcome ("ok" or the error code). With
--limit, the newest entries are listed.

JSON fields: id, time, actor, token, action, target, rollout, outcome,
detail (a JSON object).`,
		Example: `  patchpilot audit --since 24h
  patchpilot audit --actor token:alice --rollout r-20261204-101500-1a2b -o json`,
		Args: exactArgs(0, "no arguments"),
		RunE: c.orRemote(func(cmd *cobra.Command, _ []string, cl *server.Client) error {
			if since != "" {
				t, err := app.ParseSince("--since", since, time.Now())
				if err != nil {
					return err
				}
				f.Since = t
			}
			entries, err := cl.Audit(cmd.Context(), f)
			if err != nil {
				return err
			}
			return c.showAudit(entries)
		}, c.withReadApp(func(cmd *cobra.Command, _ []string, a *app.App) error {
			if since != "" {
				t, err := app.ParseSince("--since", since, a.Options.Now())
				if err != nil {
					return err
				}
				f.Since = t
			}
			entries, err := a.Audit(cmd.Context(), f)
			if err != nil {
				return err
			}
			return c.showAudit(entries)
		})),
	}
	cmd.Flags().StringVar(&f.Actor, "actor", "", `only entries of this actor ("token:NAME" or "user:NAME")`)
	cmd.Flags().StringVar(&f.Rollout, "rollout", "", "only entries about this rollout")
	cmd.Flags().StringVar(&since, "since", "", "only entries since this long ago (24h, 7d) or this time (RFC 3339)")
	cmd.Flags().IntVar(&f.Limit, "limit", 100, "at most this many entries, the newest (0: all)")
	notNegative(cmd, "limit", &f.Limit)
	return cmd
}

// showAudit prints audit entries.
func (c *cli) showAudit(entries []patchpilot.AuditEntry) error {
	return c.render(entries, func(w io.Writer) {
		if len(entries) == 0 {
			fmt.Fprintln(w, "No audit entries match.")
			return
		}
		fmt.Fprintln(w, "TIME\tACTOR\tTOKEN\tACTION\tTARGET\tROLLOUT\tOUTCOME\tDETAIL")
		for _, e := range entries {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format(time.DateTime), e.Actor, dash(e.Token),
				e.Action, dash(e.Target), dash(e.Rollout), e.Outcome, dash(truncate(strings.TrimSpace(string(e.Detail)), 60)))
		}
	})
}
