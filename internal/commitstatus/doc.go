// Package commitstatus reports each Environment's state on the developer's
// own commit through the forge's commit-status API (GitHub, GitLab, Gitea),
// from a bounded queue, off the reconcile path.
package commitstatus
