// Package plugin implements kubectl promote, the kubectl plugin that creates,
// approves, cancels, follows and explains Baton Promotions.
package plugin
