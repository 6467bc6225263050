// Package privs reads and drops Linux capabilities. The sensor needs
// CAP_NET_RAW to open its capture handle and nothing after; the verifier needs
// CAP_NET_RAW only for nmap SYN scans. Each role calls Keep once its
// privileged work is done, so a bug in a packet decoder or an nmap XML parser
// cannot be turned into raw-socket access.
//
// Capabilities are per thread in Linux, and a Go process has many threads.
// Keep applies the change to every thread of the process: through
// syscall.AllThreadsSyscall when built without cgo, and through a signal
// broadcast to each thread (libcap's psx approach) when cgo is linked in, as it
// is in synwatch (libpcap), where AllThreadsSyscall returns ENOTSUP.
package privs

import (
	"fmt"
	"strings"
)

// Cap is a Linux capability number (capabilities(7)).
type Cap uint

// The capabilities synwatch uses or drops by name.
const (
	NetAdmin Cap = 12 // CAP_NET_ADMIN
	NetRaw   Cap = 13 // CAP_NET_RAW
	SetPCap  Cap = 8  // CAP_SETPCAP: needed to shrink the bounding set
	SysAdmin Cap = 21 // CAP_SYS_ADMIN
)

var capNames = [...]string{
	"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
	"setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
	"ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
	"sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
	"lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
	"wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
}

// String is the name as in capabilities(7): CAP_NET_RAW.
func (c Cap) String() string {
	if int(c) < len(capNames) {
		return "CAP_" + strings.ToUpper(capNames[c])
	}
	return fmt.Sprintf("CAP_%d", uint(c))
}

// Set is a set of capabilities, bit n for Cap n, as the kernel prints it in
// /proc/PID/status.
type Set uint64

// SetOf returns the set holding caps.
func SetOf(caps ...Cap) Set {
	var s Set
	for _, c := range caps {
		s |= 1 << c
	}
	return s
}

// Has reports whether c is in s.
func (s Set) Has(c Cap) bool { return c < 64 && s&(1<<c) != 0 }

// Caps lists the capabilities in s in ascending order.
func (s Set) Caps() []Cap {
	var out []Cap
	for c := Cap(0); c < 64; c++ {
		if s.Has(c) {
			out = append(out, c)
		}
	}
	return out
}

// String is "" for the empty set, else e.g. "cap_net_admin,cap_net_raw"
// (capsh's spelling).
func (s Set) String() string {
	caps := s.Caps()
	names := make([]string, len(caps))
	for i, c := range caps {
		names[i] = strings.ToLower(c.String())
	}
	return strings.Join(names, ",")
}

// Status is the capability state of one thread.
type Status struct {
	Inheritable, Permitted, Effective, Bounding, Ambient Set
	NoNewPrivs                                           bool
}

func (s Status) String() string {
	return fmt.Sprintf("eff=[%s] prm=[%s] inh=[%s] amb=[%s] bnd=%016x no_new_privs=%t",
		s.Effective, s.Permitted, s.Inheritable, s.Ambient, uint64(s.Bounding), s.NoNewPrivs)
}

// Need returns nil when the process holds c in its effective set, else an
// error that tells the operator how to grant it. what says what needs it,
// e.g. "live capture on eth0".
func Need(c Cap, what string) error {
	if Have(c) {
		return nil
	}
	name := strings.TrimPrefix(c.String(), "CAP_")
	return fmt.Errorf("%s needs %s: run as root, or grant it to the non-root user "+
		"(systemd: AmbientCapabilities=%s; docker: --cap-add %s with the image's file capability; "+
		"binary: setcap cap_%s+ep synwatch)", what, c, c, name, strings.ToLower(name))
}
