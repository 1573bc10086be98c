package plugin

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// Options is what every kubectl promote command shares: the streams, the
// kubeconfig flags, the clock and the client built from them.
type Options struct {
	genericiooptions.IOStreams

	// ConfigFlags are kubectl's --kubeconfig, --context, --namespace and
	// friends.
	ConfigFlags *genericclioptions.ConfigFlags

	// Now is the clock for names, ages and elapsed times.
	Now func() time.Time

	// RefreshInterval is how often --wait re-reads the workload's rollout
	// progress between watch events.
	RefreshInterval time.Duration

	scheme    *runtime.Scheme
	client    client.WithWatch
	namespace string
}

// NewOptions returns Options that talk to the cluster the standard kubeconfig
// flags select.
func NewOptions(streams genericiooptions.IOStreams) *Options {
	return &Options{
		IOStreams:       streams,
		ConfigFlags:     genericclioptions.NewConfigFlags(true),
		Now:             time.Now,
		RefreshInterval: 2 * time.Second,
		scheme:          newScheme(),
	}
}

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(batonv1alpha1.AddToScheme(s))
	utilruntime.Must(appsv1.AddToScheme(s))
	utilruntime.Must(corev1.AddToScheme(s))
	utilruntime.Must(authorizationv1.AddToScheme(s))
	utilruntime.Must(authenticationv1.AddToScheme(s))
	return s
}

// Subcommand builds a subcommand that lives outside this package (the
// dashboard, which calls this package's actions) from the shared Options.
type Subcommand func(*Options) *cobra.Command

// Execute runs kubectl promote with args and returns the process's exit
// code. Errors are printed to streams.ErrOut.
func Execute(ctx context.Context, args []string, streams genericiooptions.IOStreams, extra ...Subcommand) int {
	return NewOptions(streams).Execute(ctx, args, extra...)
}

// Execute runs kubectl promote with args and these Options and returns the
// exit code.
func (o *Options) Execute(ctx context.Context, args []string, extra ...Subcommand) int {
	cmd := NewCommand(o, extra...)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintf(o.ErrOut, "error: %v\n", err)
	}
	return exitCode(err)
}

// NewCommand builds the kubectl promote command tree, with the extra
// subcommands.
func NewCommand(o *Options, extra ...Subcommand) *cobra.Command {
	cmd := newPromoteCommand(o)
	cmd.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl promote"}
	cmd.SilenceErrors = true
	cmd.SilenceUsage = true
	cmd.CompletionOptions.DisableDefaultCmd = true
	cmd.SetIn(o.In)
	cmd.SetOut(o.Out)
	cmd.SetErr(o.ErrOut)
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErrorf("%v; see '%s --help'", err, c.CommandPath())
	})
	o.ConfigFlags.AddFlags(cmd.PersistentFlags())
	cmd.AddCommand(
		newApproveCommand(o),
		newStatusCommand(o),
		newHistoryCommand(o),
		newUndoCommand(o),
		newCancelCommand(o),
		newFreezeCommand(o),
		newUnfreezeCommand(o),
		newResumeCommand(o),
	)
	for _, sub := range extra {
		cmd.AddCommand(sub(o))
	}
	return cmd
}

// exactArgs is cobra.ExactArgs with a usage error that names the arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usageErrorf("%s expects %s, but got %d argument(s); see '%s --help'",
				cmd.CommandPath(), strings.Join(names, " "), len(args), cmd.CommandPath())
		}
		return nil
	}
}

// Connect is connect for the subcommands outside this package: the client
// of the kubeconfig's user and the namespace the flags select.
func (o *Options) Connect() (client.WithWatch, string, error) { return o.connect() }

// UsageErrorf is a command-line mistake (exit code 2), for the subcommands
// outside this package.
func UsageErrorf(format string, args ...any) error { return usageErrorf(format, args...) }

// connect builds the typed client and resolves the namespace from the
// kubeconfig flags, once.
func (o *Options) connect() (client.WithWatch, string, error) {
	if o.client != nil {
		return o.client, o.namespace, nil
	}
	ns, _, err := o.ConfigFlags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("read the namespace from the kubeconfig: %w; pass --kubeconfig or --namespace", err)
	}
	cfg, err := o.ConfigFlags.ToRESTConfig()
	if err != nil {
		return nil, "", fmt.Errorf("load the kubeconfig: %w; pass --kubeconfig, set KUBECONFIG, or check `kubectl config current-context`", err)
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: o.scheme})
	if err != nil {
		return nil, "", fmt.Errorf("connect to the cluster at %s: %w; check `kubectl cluster-info`", cfg.Host, err)
	}
	o.client, o.namespace = c, ns
	return c, ns, nil
}

// outputFlag adds -o json|yaml to a command that can print objects.
func outputFlag(flags *pflag.FlagSet, target *string) {
	flags.StringVarP(target, "output", "o", "", "Print the object(s) as json or yaml instead of text.")
}

func checkOutput(format string) error {
	switch format {
	case "", "json", "yaml":
		return nil
	}
	return usageErrorf("--output %q is not supported; use -o json or -o yaml, or leave it out for text", format)
}
