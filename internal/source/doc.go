// Package source follows a branch of an application's Git repository for an
// entry Environment: it reads the branch head, renders the image CI built
// for it, and verifies the push webhooks that ask for an early read.
package source
