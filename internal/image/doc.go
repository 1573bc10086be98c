// Package image parses, compares and pins container image references, so
// that every part of Baton agrees on when two references name the same image.
package image
