package testenv

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// InNetns runs f on an OS thread switched into namespace ns, so code under test
// (a pcap handle, a dialer, a listener) works inside the lab without a
// subprocess. Sockets opened in f stay in ns after it returns.
func InNetns(t testing.TB, ns string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		// the thread is left locked and so is discarded when this goroutine ends:
		// it must never run other goroutines in the wrong namespace.
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Errorf("testenv: open own netns: %v", err)
			return
		}
		defer unix.Close(orig)
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Errorf("testenv: open netns %s: %v", ns, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			t.Errorf("testenv: setns %s: %v", ns, err)
			return
		}
		f()
	}()
	<-done
}
