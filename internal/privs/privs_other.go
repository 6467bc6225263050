//go:build !linux

package privs

import "errors"

var errNotLinux = errors.New("privs: capabilities are Linux-only")

// Have is false outside Linux.
func Have(c Cap) bool { return false }

// Permitted is false outside Linux.
func Permitted(c Cap) bool { return false }

// Self is not available outside Linux.
func Self() (Status, error) { return Status{}, errNotLinux }

// Keep is not available outside Linux.
func Keep(caps ...Cap) (Status, error) { return Status{}, errNotLinux }

// DropAfterCapture is not available outside Linux.
func DropAfterCapture() (Status, error) { return Status{}, errNotLinux }

// ForVerifier is not available outside Linux.
func ForVerifier(synScan bool) (Status, error) { return Status{}, errNotLinux }
