// Command capsdemo is built and run by privs' tests (as a non-root user with
// capabilities, through setpriv): it reports the capability state of all its
// threads before and after privs.Keep, whether it can open a raw packet
// socket, and what a child it executes inherits. One JSON object on stdout.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/synwatch/synwatch/internal/privs"
	"golang.org/x/sys/unix"
)

type report struct {
	AllThreadsSyscall string            // "ok" or the errno: ENOTSUP when cgo is linked in
	Before            string            // privs.Self before
	HaveRawBefore     bool              // privs.Have(NetRaw) before
	RawBefore         string            // "ok" or the socket error
	Threads           int               // threads when the drop ran
	KeepErr           string            // error of privs.Keep, if any
	KeepMicros        int64             // how long privs.Keep took
	After             string            // privs.Self after
	HaveRawAfter      bool              // privs.Have(NetRaw) after
	RawAfter          string            // raw socket after the drop
	ThreadStates      map[string]int    // distinct per-thread states after the drop (all of them, including threads started after it) → count
	Child             string            // the state of a child executed after the drop
	CaptureOpen       string            `json:",omitempty"` // -capture: "ok" or the error of opening it before the drop
	CapturedAfterDrop int               `json:",omitempty"` // -capture: our own UDP probes read from the handle after the drop
	Extra             map[string]string `json:",omitempty"`
}

func rawSocket() string {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0) // protocol 0: receives nothing
	if err != nil {
		return err.Error()
	}
	unix.Close(fd)
	return "ok"
}

func threadStates() map[string]int {
	ts, err := privs.Threads()
	if err != nil {
		return map[string]int{err.Error(): 1}
	}
	out := map[string]int{}
	for _, s := range ts {
		out[s.String()]++
	}
	return out
}

func main() {
	keep := flag.String("keep", "", "capabilities to keep: net_raw,net_admin")
	threads := flag.Int("threads", 8, "extra OS threads to start before the drop")
	capture := flag.String("capture", "", "open a libpcap capture on this interface before the drop, read from it after (run in a private network namespace: lo)")
	flag.Parse()

	var r report
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_GETPID, 0, 0, 0); e != 0 {
		r.AllThreadsSyscall = unix.ErrnoName(e)
	} else {
		r.AllThreadsSyscall = "ok"
	}
	// Park goroutines on their own OS threads, so the process has many.
	block := make(chan struct{})
	started := make(chan struct{})
	for i := 0; i < *threads; i++ {
		go func() {
			runtime.LockOSThread()
			started <- struct{}{}
			<-block
		}()
	}
	for i := 0; i < *threads; i++ {
		<-started
	}

	before, err := privs.Self()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	r.Before = before.String()
	r.HaveRawBefore = privs.Have(privs.NetRaw)
	r.RawBefore = rawSocket()
	if ts, err := privs.Threads(); err == nil {
		r.Threads = len(ts)
	}

	var probe func() int
	if *capture != "" {
		var closeCapture func()
		probe, closeCapture, r.CaptureOpen = openCapture(*capture)
		defer closeCapture()
	}

	var caps []privs.Cap
	for _, name := range strings.Split(*keep, ",") {
		switch name {
		case "net_raw":
			caps = append(caps, privs.NetRaw)
		case "net_admin":
			caps = append(caps, privs.NetAdmin)
		case "":
		default:
			fmt.Fprintln(os.Stderr, "unknown capability", name)
			os.Exit(2)
		}
	}
	t0 := time.Now()
	if _, err := privs.Keep(caps...); err != nil {
		r.KeepErr = err.Error()
	}
	r.KeepMicros = time.Since(t0).Microseconds()
	after, _ := privs.Self()
	r.After = after.String()
	r.HaveRawAfter = privs.Have(privs.NetRaw)

	// Threads started after the drop are cloned from dropped ones.
	for i := 0; i < *threads; i++ {
		go func() {
			runtime.LockOSThread()
			started <- struct{}{}
			<-block
		}()
	}
	for i := 0; i < *threads; i++ {
		<-started
	}
	r.RawAfter = rawSocket()
	r.ThreadStates = threadStates()

	if probe != nil {
		r.CapturedAfterDrop = probe()
	}

	out, err := exec.Command("/bin/cat", "/proc/self/status").Output()
	if err != nil {
		r.Child = "exec: " + err.Error()
	} else if st, err := privs.ParseStatus(out); err != nil {
		r.Child = err.Error()
	} else {
		r.Child = st.String()
	}
	close(block)
	json.NewEncoder(os.Stdout).Encode(r)
}
