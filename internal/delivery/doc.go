// Package delivery changes an Environment's target to a new image, behind one
// small interface that direct (server-side apply) and Git delivery implement.
package delivery
