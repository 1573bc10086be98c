// Package dashboard serves `kubectl promote dashboard`: a page on 127.0.0.1
// that shows a namespace's pipeline live and promotes, approves, cancels and
// rolls back as the kubeconfig's user, through internal/plugin's actions.
package dashboard
