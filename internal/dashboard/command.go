package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/spf13/cobra"

	"github.com/baton-dev/baton/internal/plugin"
)

// NewCommand is `kubectl promote dashboard`.
func NewCommand(o *plugin.Options) *cobra.Command {
	var (
		port      int
		noBrowser bool
		verbose   bool
	)
	cmd := &cobra.Command{
		Use:   "dashboard [--port N] [--no-browser]",
		Short: "Serve a local web page that shows the pipeline live and promotes, approves and rolls back as you",
		Long: `Serve a page on 127.0.0.1 that shows the namespace's Environments as a
pipeline, with their Promotions, history and Events, updated live from
watches. Its buttons promote, approve, cancel and roll back through the same
requests as the other kubectl promote commands, made with your kubeconfig, so
Baton's webhook records you exactly as it does for kubectl. A button your
RBAC does not allow is disabled.

The page listens on 127.0.0.1 only and needs the random token in the URL this
command prints (and opens, unless --no-browser); see docs/dashboard.md.`,
		Example: `  # Open the dashboard for the namespace of the current context
  kubectl promote dashboard

  # Namespace shop, on port 3100, printing the URL instead of opening it
  kubectl promote dashboard -n shop --port 3100 --no-browser`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if port < 0 || port > 65535 {
				return plugin.UsageErrorf("--port must be between 0 (any free port) and 65535, got %d", port)
			}
			return serve(cmd.Context(), o, port, !noBrowser, logger(o, verbose))
		},
	}
	cmd.Flags().IntVar(&port, "port", 0, "Port on 127.0.0.1 to serve the page on (0: any free port).")
	cmd.Flags().BoolVar(&noBrowser, "no-browser", false, "Print the URL but do not open a browser.")
	cmd.Flags().BoolVar(&verbose, "verbose", false, "Log refused requests and failed watches on stderr.")
	return cmd
}

func logger(o *plugin.Options, verbose bool) logr.Logger {
	if !verbose {
		return logr.Discard()
	}
	return funcr.New(func(prefix, args string) { fmt.Fprintln(o.ErrOut, prefix, args) }, funcr.Options{Verbosity: 1})
}

// serve listens on loopback only, prints (and opens) the URL and serves
// until ctx ends (Ctrl-C).
func serve(ctx context.Context, o *plugin.Options, port int, open bool, log logr.Logger) error {
	c, ns, err := o.Connect()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("listen on 127.0.0.1:%d: %w; pick another --port", port, err)
	}
	s, err := NewServer(c, ns, ln.Addr().(*net.TCPAddr).Port, log)
	if err != nil {
		_ = ln.Close()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.Run(ctx)
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, done := context.WithTimeout(context.Background(), 2*time.Second)
		defer done()
		_ = srv.Shutdown(shutdown)
	}()
	fmt.Fprintf(o.Out, "Dashboard for namespace %s: %s\n", ns, s.URL())
	fmt.Fprintln(o.ErrOut, "The URL holds this session's token: do not share it. Press Ctrl-C to stop.")
	if open {
		if err := openBrowser(s.URL()); err != nil {
			fmt.Fprintf(o.ErrOut, "Could not open a browser (%v); open the URL above yourself.\n", err)
		}
	}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve the dashboard: %w", err)
	}
	return nil
}

// openBrowser opens url in the desktop's browser, without a shell.
func openBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}
