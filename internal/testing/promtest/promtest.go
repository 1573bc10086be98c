// Package promtest runs a real Prometheus process for tests, scraping
// given targets every second.
package promtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/baton-dev/baton/internal/certs"
)

// Prometheus is a running Prometheus.
type Prometheus struct {
	// Address is its HTTP API's base URL.
	Address string
	cmd     *exec.Cmd
	client  *http.Client
	opts    Options
}

// Options make Prometheus' own web server strict, through its
// --web.config.file: TLS, and basic auth.
type Options struct {
	// TLS is the serving certificate (for 127.0.0.1), and CA the bundle
	// that trusts it; empty serves plain http.
	TLS certs.KeyPair
	CA  []byte
	// Username and Password, when set, are the only credentials Prometheus
	// accepts (basic auth).
	Username, Password string
}

// Binary is the Prometheus to run: $PROMETHEUS (make test sets it to the
// one it built), else prometheus on PATH.
func Binary() (string, error) {
	if p := os.Getenv("PROMETHEUS"); p != "" {
		return p, nil
	}
	p, err := exec.LookPath("prometheus")
	if err != nil {
		return "", fmt.Errorf("no Prometheus: set PROMETHEUS (make test builds it into bin/prometheus/) or put prometheus on PATH: %w", err)
	}
	return p, nil
}

// Start runs Prometheus in dir, scraping targets ("host:port") every second,
// and waits until it is ready.
func Start(dir string, targets ...string) (*Prometheus, error) {
	return StartWith(dir, Options{}, targets...)
}

// StartWith is Start with the web server's TLS and basic auth.
func StartWith(dir string, o Options, targets ...string) (*Prometheus, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n- job_name: sampleapp\n  static_configs:\n  - targets: [%s]\n",
		strings.Join(quoted(targets), ", "))
	file := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{"--config.file=" + file, "--storage.tsdb.path=" + filepath.Join(dir, "data"), "--web.listen-address=" + addr}
	web, err := writeWebConfig(dir, o)
	if err != nil {
		return nil, err
	}
	if web != "" {
		args = append(args, "--web.config.file="+web)
	}
	cmd := exec.Command(bin, args...)
	log, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &Prometheus{Address: "http://" + addr, cmd: cmd, client: http.DefaultClient, opts: o}
	if len(o.TLS.Cert) > 0 {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(o.CA)
		p.Address = "https://" + addr
		p.client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	}
	if err := p.waitReady(30 * time.Second); err != nil {
		p.Stop()
		return nil, fmt.Errorf("%w (log: %s)", err, log.Name())
	}
	return p, nil
}

func (p *Prometheus) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.Address+"/-/ready", nil)
		if p.opts.Username != "" {
			req.SetBasicAuth(p.opts.Username, p.opts.Password)
		}
		if resp, err := p.client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("prometheus at %s not ready within %s", p.Address, timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop ends the process.
func (p *Prometheus) Stop() {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// writeWebConfig writes Prometheus' web configuration for o into dir, and
// returns its path; "" when o asks for nothing.
func writeWebConfig(dir string, o Options) (string, error) {
	var cfg strings.Builder
	if len(o.TLS.Cert) > 0 {
		cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
		if err := os.WriteFile(cert, o.TLS.Cert, 0o600); err != nil {
			return "", err
		}
		if err := os.WriteFile(key, o.TLS.Key, 0o600); err != nil {
			return "", err
		}
		fmt.Fprintf(&cfg, "tls_server_config:\n  cert_file: %q\n  key_file: %q\n", cert, key)
	}
	if o.Username != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(o.Password), bcrypt.MinCost)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&cfg, "basic_auth_users:\n  %q: %q\n", o.Username, hash)
	}
	if cfg.Len() == 0 {
		return "", nil
	}
	file := filepath.Join(dir, "web.yml")
	return file, os.WriteFile(file, []byte(cfg.String()), 0o600)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func quoted(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
