//go:build !linux

package capture

import "errors"

// OpenAFPacket is Linux only.
func OpenAFPacket(o Options) ([]Source, error) {
	return nil, errors.New("capture: AF_PACKET is available on Linux only; use source pcap")
}
