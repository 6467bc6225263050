//go:build !cgo

package main

// openCapture needs libpcap, hence cgo.
func openCapture(iface string) (probe func() int, closeFn func(), status string) {
	return nil, func() {}, "capture needs a cgo build (libpcap)"
}
