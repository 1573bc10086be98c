// Package notify sends the phase changes of Promotions to the webhooks and
// Slack channels that NotificationPolicies name, from a bounded queue, off
// the reconcile path.
package notify
