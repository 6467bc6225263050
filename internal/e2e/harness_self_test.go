package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synwatch/synwatch/internal/event"
	"github.com/synwatch/synwatch/internal/testenv"
)

// The harness itself: a service inside is reachable from outside and closed
// on demand, a webhook receiver in the outside namespace takes posts made
// there, a proxy carries the outside namespace's loopback to the test's, and
// the sensor reads the handshakes the test writes into a pcap.
func TestHarness(t *testing.T) {
	e2eTest(t)
	lab := testenv.NewLab(t, "198.18.7")
	addr := net.JoinHostPort(lab.InsideIP, "8080")
	svc := openService(t, lab.Inside, lab.InsideIP, 8080, "ssh")
	if err := connect(t, lab.Outside, addr); err != nil {
		t.Fatalf("connect to an open service: %v", err)
	}
	svc.close()
	if err := connect(t, lab.Outside, addr); err == nil {
		t.Fatal("connect to a closed service succeeded")
	}

	h := startHook(t, lab.Outside)
	client := httpClientIn(t, lab.Outside)
	body := `{"schema_version":1,"id":"x1","severity":"high","title":"t","change":{"kind":"new","service":{"ip":"198.18.7.1","proto":"tcp","port":22}}}`
	resp, err := client.Post(h.URL, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("post to the hook from the outside namespace: %v", err)
	}
	resp.Body.Close()
	h.waitFor(t, 5*time.Second, "the posted alert", about(event.ChangeNew, "198.18.7.1", 22))

	// proxy: a listener on the test's loopback, reached from the lab
	l := listenIn(t, "", "127.0.0.1:0")
	go func() {
		c, err := l.Accept()
		if err == nil {
			io.WriteString(c, "through\n")
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	px := testenv.ProxyInto(t, lab.Outside, "127.0.0.1:"+port, l.Addr().String())
	px.Cut()
	if err := connect(t, lab.Outside, "127.0.0.1:"+port); err == nil {
		t.Error("the proxy still accepts after cut")
	}
	px.Restore()
	testenv.InNetns(t, lab.Outside, func() {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err != nil {
			t.Errorf("dial the proxy: %v", err)
			return
		}
		defer c.Close()
		if s, _ := bufio.NewReader(c).ReadString('\n'); s != "through\n" {
			t.Errorf("through the proxy: %q", s)
		}
	})

	pcap := filepath.Join(t.TempDir(), "h.pcap")
	writeHandshakes(t, pcap, time.Unix(1700000000, 0), []handshake{
		{lab.OutsideIP, 40001, lab.InsideIP, 8080}, {lab.OutsideIP, 40002, lab.InsideIP, 2222}})
	out := synwatchOutput(t, "sensor", "--pcap", pcap, "--inside", lab.InsideIP+"/32", "--output", "-")
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var o event.Observation
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("sensor output %q: %v", line, err)
		}
		got = append(got, fmt.Sprintf("%s:%d/%s %s", o.IP, o.Port, o.Proto, o.Handshake))
	}
	want := []string{lab.InsideIP + ":8080/tcp verified", lab.InsideIP + ":2222/tcp verified"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("sensor saw %v in the test's pcap, want %v", got, want)
	}
}
