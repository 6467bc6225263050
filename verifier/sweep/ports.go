package sweep

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// ParsePorts reads a port list: top1000, top100 (nmap's most frequent TCP
// ports, from its nmap-services file), a range (1-65535), or a list of
// ports and ranges (22,80,8000-8100).
func ParsePorts(spec string) ([]uint16, error) {
	spec = strings.TrimSpace(spec)
	if n, ok := strings.CutPrefix(spec, "top"); ok {
		k, err := strconv.Atoi(n)
		if err != nil || k < 1 || k > 65535 {
			return nil, fmt.Errorf("ports %q: want topN with N 1-65535 (top100, top1000)", spec)
		}
		return TopPorts(k)
	}
	var out []uint16
	for _, f := range strings.Split(spec, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(f, "-")
		a, err := portNum(lo)
		if err != nil {
			return nil, fmt.Errorf("ports %q: %w", spec, err)
		}
		b := a
		if isRange {
			if b, err = portNum(hi); err != nil {
				return nil, fmt.Errorf("ports %q: %w", spec, err)
			}
			if b < a {
				return nil, fmt.Errorf("ports %q: range %s ends before it starts", spec, f)
			}
		}
		for p := int(a); p <= int(b); p++ {
			out = append(out, uint16(p))
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no ports: want top1000, top100, 1-65535 or a list such as 22,80,8000-8100")
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func portNum(s string) (uint16, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port 1-65535", s)
	}
	return uint16(n), nil
}

// servicesPaths are where nmap keeps nmap-services (Debian first).
var servicesPaths = []string{"/usr/share/nmap/nmap-services", "/usr/local/share/nmap/nmap-services"}

// TopPorts returns nmap's k most frequent TCP ports (what nmap's
// --top-ports k scans), sorted by number.
func TopPorts(k int) ([]uint16, error) {
	for _, p := range servicesPaths {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		defer f.Close()
		return ReadTopPorts(f, "tcp", k)
	}
	return nil, fmt.Errorf("top ports need nmap's nmap-services file (%s): install nmap", strings.Join(servicesPaths, " or "))
}

// ReadTopPorts reads nmap-services ("name port/proto frequency [# comment]"
// per line) and returns the k ports of proto with the highest frequency,
// ties broken by the lower port, sorted by number.
func ReadTopPorts(r io.Reader, proto string, k int) ([]uint16, error) {
	type entry struct {
		port uint16
		freq float64
	}
	var es []entry
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		t := sc.Text()
		if i := strings.IndexByte(t, '#'); i >= 0 {
			t = t[:i]
		}
		f := strings.Fields(t)
		if len(f) == 0 {
			continue
		}
		if len(f) < 3 {
			return nil, fmt.Errorf("nmap-services line %d: want NAME PORT/PROTO FREQUENCY", line)
		}
		num, pr, ok := strings.Cut(f[1], "/")
		if !ok {
			return nil, fmt.Errorf("nmap-services line %d: %q is not PORT/PROTO", line, f[1])
		}
		port, err := portNum(num)
		if err != nil {
			return nil, fmt.Errorf("nmap-services line %d: %w", line, err)
		}
		freq, err := strconv.ParseFloat(f[2], 64)
		if err != nil || freq < 0 || freq > 1 {
			return nil, fmt.Errorf("nmap-services line %d: frequency %q is not 0-1", line, f[2])
		}
		if pr == proto {
			es = append(es, entry{port, freq})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("nmap-services: %w", err)
	}
	slices.SortStableFunc(es, func(a, b entry) int {
		switch {
		case a.freq > b.freq:
			return -1
		case a.freq < b.freq:
			return 1
		}
		return int(a.port) - int(b.port)
	})
	if len(es) > k {
		es = es[:k]
	}
	out := make([]uint16, len(es))
	for i, e := range es {
		out[i] = e.port
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
