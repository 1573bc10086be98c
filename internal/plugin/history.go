package plugin

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/printers"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

func newHistoryCommand(o *Options) *cobra.Command {
	var (
		revision int64
		output   string
	)
	cmd := &cobra.Command{
		Use:   "history ENV [--revision N]",
		Short: "Show an Environment's revision history, like kubectl rollout history",
		Long: `List the revisions Baton recorded for an Environment (status.history, the
newest spec.historyLimit of them): image, result, who requested and approved
it, and the commit. With --revision, show one revision in detail.`,
		Example: `  kubectl promote history production

  # One revision in detail
  kubectl promote history production --revision 3

  # The history as YAML
  kubectl promote history production -o yaml`,
		Args: exactArgs("ENV"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if revision < 0 {
				return usageErrorf("--revision must be a revision number from 'kubectl promote history %s', got %d", args[0], revision)
			}
			return o.history(cmd.Context(), args[0], revision, output)
		},
	}
	cmd.Flags().Int64Var(&revision, "revision", 0, "Show this revision in detail.")
	outputFlag(cmd.Flags(), &output)
	return cmd
}

func (o *Options) history(ctx context.Context, name string, revision int64, output string) error {
	_, _, env, err := o.connectEnvironment(ctx, name)
	if err != nil {
		return err
	}
	if revision == 0 {
		if output != "" {
			return printData(o.Out, env.Status.History, output)
		}
		return writeHistory(o.Out, env, o.Now())
	}
	rev := findRevision(env, revision)
	if rev == nil {
		return fmt.Errorf("revision %d is not in the history of Environment %q%s; list them with `kubectl promote history %s`",
			revision, env.Name, keptRevisions(env), env.Name)
	}
	if output != "" {
		return printData(o.Out, rev, output)
	}
	return writeRevision(o.Out, env, rev, o.Now())
}

func findRevision(env *batonv1alpha1.Environment, n int64) *batonv1alpha1.Revision {
	for i := range env.Status.History {
		if env.Status.History[i].Revision == n {
			return &env.Status.History[i]
		}
	}
	return nil
}

func keptRevisions(env *batonv1alpha1.Environment) string {
	h := env.Status.History
	if len(h) == 0 {
		return ", which has no revisions yet"
	}
	return fmt.Sprintf(" (it keeps revisions %d to %d)", h[0].Revision, h[len(h)-1].Revision)
}

// writeHistory prints an Environment's revisions, oldest first, as a table.
func writeHistory(out io.Writer, env *batonv1alpha1.Environment, now time.Time) error {
	if len(env.Status.History) == 0 {
		_, err := fmt.Fprintf(out, "Environment %q has no revisions yet: Baton records revision 1 once it sees the workload healthy.\n", env.Name)
		return err
	}
	w := printers.GetNewTabWriter(out)
	fmt.Fprintf(w, "REVISION\tIMAGE\tRESULT\tREQUESTED-BY\tAPPROVED-BY\tCOMMIT\tAGE\n")
	for i := range env.Status.History {
		r := &env.Status.History[i]
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Revision, r.Image, result(r), orDash(r.RequestedBy),
			orDash(strings.Join(r.ApprovedBy, ",")), orDash(shortCommit(r.Commit)), revisionAge(r, now))
	}
	return w.Flush()
}

// writeRevision prints one revision in detail.
func writeRevision(out io.Writer, env *batonv1alpha1.Environment, r *batonv1alpha1.Revision, now time.Time) error {
	w := printers.GetNewTabWriter(out)
	current := ""
	if env.Status.Current != nil && env.Status.Current.Revision == r.Revision {
		current = " (current)"
	}
	fmt.Fprintf(w, "Environment:\t%s\n", env.Name)
	fmt.Fprintf(w, "Revision:\t%d%s\n", r.Revision, current)
	fmt.Fprintf(w, "Image:\t%s\n", r.Image)
	if r.Digest != "" {
		fmt.Fprintf(w, "Digest:\t%s\n", r.Digest)
	}
	fmt.Fprintf(w, "Result:\t%s\n", result(r))
	if r.Message != "" {
		fmt.Fprintf(w, "Message:\t%s\n", r.Message)
	}
	fmt.Fprintf(w, "Rollback:\t%t\n", r.Rollback)
	promo := "-"
	if r.Promotion != nil {
		promo = r.Promotion.Name
	}
	fmt.Fprintf(w, "Promotion:\t%s\n", promo)
	fmt.Fprintf(w, "Requested by:\t%s\n", orDash(r.RequestedBy))
	fmt.Fprintf(w, "Approved by:\t%s\n", orDash(strings.Join(r.ApprovedBy, ", ")))
	fmt.Fprintf(w, "Commit:\t%s\n", orDash(r.Commit))
	if r.StartedAt != nil {
		fmt.Fprintf(w, "Started:\t%s (%s ago)\n", r.StartedAt.UTC().Format(time.RFC3339), age(r.StartedAt, now))
	}
	if r.FinishedAt != nil {
		fmt.Fprintf(w, "Finished:\t%s (%s ago)\n", r.FinishedAt.UTC().Format(time.RFC3339), age(r.FinishedAt, now))
	}
	return w.Flush()
}

func result(r *batonv1alpha1.Revision) string {
	if r.Result == "" {
		return "InProgress"
	}
	return string(r.Result)
}

func shortCommit(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// revisionAge is how long ago the revision was made: its start, else its
// finish (Adopted and External revisions may only have one of them).
func revisionAge(r *batonv1alpha1.Revision, now time.Time) string {
	switch {
	case r.StartedAt != nil:
		return age(r.StartedAt, now)
	case r.FinishedAt != nil:
		return age(r.FinishedAt, now)
	}
	return "-"
}
