// Package dora computes the four DORA delivery measures of an Environment
// (deployment frequency, lead time for changes, change failure rate, time
// to restore) from what Baton records: its Promotions and its history.
package dora
