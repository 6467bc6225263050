package testenv

import (
	"os/exec"
	"runtime"
	"syscall"
)

// spawns runs cmd.Start calls on one OS thread that lives as long as the
// test binary. The services tests start get Pdeathsig (killed if the test
// binary dies without its cleanups), and the kernel sends it when the
// *thread* that forked them exits; InNetns ends the threads it switched into
// a namespace, so a service forked from an ordinary thread could be killed
// mid-test.
var spawns = make(chan func())

func init() {
	go func() {
		runtime.LockOSThread() // never unlocked: the thread lives on
		for f := range spawns {
			f()
		}
	}()
}

// startTied starts cmd, killed with SIGKILL when the test binary exits.
func startTied(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	done := make(chan error, 1)
	spawns <- func() { done <- cmd.Start() }
	return <-done
}
