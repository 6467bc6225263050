package privs

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Have reports whether the process (its main thread, as /proc/self/status
// shows it) has c in its effective set. After Keep every thread agrees.
func Have(c Cap) bool {
	s, err := Self()
	return err == nil && s.Effective.Has(c)
}

// Permitted reports whether the process may make c effective: it is in the
// permitted set, as with a file capability without the effective bit
// (setcap cap_net_raw+p, the verifier image). Keep(c) then makes it
// effective; Have(c) is false until then.
func Permitted(c Cap) bool {
	s, err := Self()
	return err == nil && s.Permitted.Has(c)
}

// Self reads the capability state of the process's main thread.
func Self() (Status, error) { return readStatus("/proc/self/status") }

// Threads reads the capability state of every thread of the process, by
// thread id: the way to check that a drop reached all of them.
func Threads() (map[int]Status, error) {
	tids, err := taskIDs()
	if err != nil {
		return nil, err
	}
	out := make(map[int]Status, len(tids))
	for _, tid := range tids {
		s, err := readStatus(fmt.Sprintf("/proc/self/task/%d/status", tid))
		if err != nil {
			if os.IsNotExist(err) { // the thread exited meanwhile
				continue
			}
			return nil, err
		}
		out[tid] = s
	}
	return out, nil
}

func taskIDs() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("privs: %w", err)
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

func readStatus(path string) (Status, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Status{}, err
	}
	s, err := ParseStatus(data)
	if err != nil {
		return s, fmt.Errorf("privs: %s: %w", filepath.Clean(path), err)
	}
	return s, nil
}

// ParseStatus reads the Cap* and NoNewPrivs lines of a /proc/PID/status file.
func ParseStatus(data []byte) (Status, error) {
	var s Status
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		var dst *Set
		switch key {
		case "CapInh":
			dst = &s.Inheritable
		case "CapPrm":
			dst = &s.Permitted
		case "CapEff":
			dst = &s.Effective
		case "CapBnd":
			dst = &s.Bounding
		case "CapAmb":
			dst = &s.Ambient
		case "NoNewPrivs":
			s.NoNewPrivs = val == "1"
			continue
		default:
			continue
		}
		n, err := strconv.ParseUint(val, 16, 64)
		if err != nil {
			return s, fmt.Errorf("%s: bad capability mask %q", key, val)
		}
		*dst = Set(n)
		seen++
	}
	if seen < 4 { // CapAmb is missing before Linux 4.3
		return s, fmt.Errorf("no capability lines")
	}
	return s, nil
}

// lastCap is the highest capability the running kernel knows.
func lastCap() Cap {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 && n < 64 {
			return Cap(n)
		}
	}
	return 40 // CAP_CHECKPOINT_RESTORE, Linux 5.9
}
