package privs

import (
	"fmt"
)

// plan is what every thread applies, in this order: shrink the bounding set
// (when the thread may: CAP_SETPCAP), set permitted = effective = inheritable
// = keep, set ambient = keep (so a child such as nmap inherits exactly keep
// across execve), then set no_new_privs (execve never grants more: no setuid
// bits, no file capabilities).
type plan struct {
	keep          Set
	dropBounding  bool
	lastCap       Cap
	setNoNewPrivs bool
}

// Keep reduces the capabilities of every thread of the process to caps (those
// of them that the process holds; others are silently not kept: check the
// returned Status or Have), clears the ambient set to caps, shrinks the
// bounding set to caps where CAP_SETPCAP allows (running as root), and sets
// no_new_privs. It is not reversible.
//
//	sensor, after the capture handle is open:  Keep()
//	verifier that runs SYN scans:             Keep(NetRaw)  (nmap inherits it; pass --privileged)
//	verifier with connect scans only:         Keep()
func Keep(caps ...Cap) (Status, error) {
	self, err := Self()
	if err != nil {
		return Status{}, err
	}
	p := plan{
		keep:          SetOf(caps...) & self.Permitted,
		dropBounding:  self.Effective.Has(SetPCap),
		lastCap:       lastCap(),
		setNoNewPrivs: true,
	}
	if err := applyAllThreads(p); err != nil {
		return Status{}, fmt.Errorf("privs: drop capabilities to [%s]: %w", p.keep, err)
	}
	threads, err := Threads()
	if err != nil {
		return Status{}, err
	}
	for tid, st := range threads {
		if st.Effective != p.keep || st.Permitted != p.keep || st.Ambient != p.keep || !st.NoNewPrivs {
			return st, fmt.Errorf("privs: thread %d kept %s after the drop to [%s]", tid, st, p.keep)
		}
	}
	return Self()
}

// DropAfterCapture is the sensor's call once its capture handle is open: the
// handle keeps working (its socket was opened with the capability), nothing
// else in the sensor needs one. Re-opening the capture after an interface
// vanishes is left to the supervisor (systemd, Kubernetes) restarting it.
func DropAfterCapture() (Status, error) { return Keep() }

// ForVerifier keeps CAP_NET_RAW when synScan is asked for and the process
// holds it — permitted is enough: with the verifier image's file capability
// (cap_net_raw+p) it is permitted but not yet effective, and Keep makes it
// effective — nothing otherwise. nmap -sS inherits it through the ambient set
// (run nmap with --privileged). Pass the operator's wish, not Have(NetRaw),
// which is false before this call in the image. The returned Status tells
// whether SYN scans are possible: Status.Effective.Has(NetRaw).
func ForVerifier(synScan bool) (Status, error) {
	if synScan {
		return Keep(NetRaw)
	}
	return Keep()
}
