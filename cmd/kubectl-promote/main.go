// Command kubectl-promote is the kubectl plugin for Baton: with it on PATH,
// `kubectl promote` creates, approves, follows, cancels and undoes
// Promotions, and `kubectl promote dashboard` serves a local page that does
// the same. See docs/kubectl-promote.md and docs/dashboard.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/baton-dev/baton/internal/dashboard"
	"github.com/baton-dev/baton/internal/plugin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := plugin.Execute(ctx, os.Args[1:], genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}, dashboard.NewCommand)
	stop()
	os.Exit(code)
}
