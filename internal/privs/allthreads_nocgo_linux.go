//go:build !cgo

package privs

import (
	"fmt"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// applyAllThreads runs each step on every thread through the Go runtime
// (syscall.AllThreadsSyscall: only without cgo).
func applyAllThreads(p plan) error {
	if p.dropBounding {
		for c := Cap(0); c <= p.lastCap; c++ {
			if p.keep.Has(c) {
				continue
			}
			if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0); e != 0 {
				if e == syscall.EINVAL { // a capability this kernel does not know
					continue
				}
				return e
			}
		}
	}
	hdr := &unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := &[2]unix.CapUserData{
		{Effective: uint32(p.keep), Permitted: uint32(p.keep), Inheritable: uint32(p.keep)},
		{Effective: uint32(p.keep >> 32), Permitted: uint32(p.keep >> 32), Inheritable: uint32(p.keep >> 32)},
	}
	_, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(hdr)), uintptr(unsafe.Pointer(data)), 0)
	runtime.KeepAlive(hdr)
	runtime.KeepAlive(data)
	if e != 0 {
		return fmt.Errorf("capset: %w", e)
	}
	if _, _, e := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("ambient clear: %w", e)
	}
	for _, c := range p.keep.Caps() {
		if _, _, e := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0, 0); e != 0 {
			return fmt.Errorf("ambient raise %s: %w", c, e)
		}
	}
	if p.setNoNewPrivs {
		if _, _, e := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
			return fmt.Errorf("no_new_privs: %w", e)
		}
	}
	return nil
}
