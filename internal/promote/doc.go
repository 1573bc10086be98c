// Package promote holds the Promotion engine's pure decisions: which image a
// Promotion resolves to, who is next in an Environment's queue, and how the
// revision history changes.
package promote
