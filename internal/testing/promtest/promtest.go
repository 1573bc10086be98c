// Package promtest runs a real Prometheus process for tests, scraping
// given targets every second.
package promtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Prometheus is a running Prometheus.
type Prometheus struct {
	// Address is its HTTP API's base URL.
	Address string
	cmd     *exec.Cmd
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
	cmd := exec.Command(bin, "--config.file="+file, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	log, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &Prometheus{Address: "http://" + addr, cmd: cmd}
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
		if resp, err := http.DefaultClient.Do(req); err == nil {
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
