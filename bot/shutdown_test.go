package bot_test

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cacheck/ca-check/bot"
)

func slowGraph(d time.Duration) harnessOption {
	return func(_ *bot.Config, f *fakeDiagnoser) { f.delay = d }
}

func shutdownTimeout(d time.Duration) harnessOption {
	return func(c *bot.Config, _ *fakeDiagnoser) { c.ShutdownTimeout = d }
}

// A slow Graph never delays acks: every command is acknowledged while the
// diagnoses behind it are still running.
func TestAcksDoNotWaitForGraph(t *testing.T) {
	h := start(t, slowGraph(time.Second), workers(1), shutdownTimeout(100*time.Millisecond))
	for range 5 {
		if code, body := h.command("contoso.com"); code != http.StatusOK {
			t.Fatalf("ack %d %s", code, body)
		}
	}
	if n := len(h.slack.Calls("chat.postMessage")); n != 0 {
		t.Errorf("%d answers posted before the acks returned: the acks waited for the diagnosis", n)
	}
}

// Cancelling Run lets in-flight work finish: the answer is posted before
// Run returns.
func TestShutdownFinishesInFlightWork(t *testing.T) {
	h := start(t, slowGraph(300*time.Millisecond))
	h.command("contoso.com")
	h.stop()
	err := <-h.done
	h.done <- err // for the harness's cleanup
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := len(h.slack.Calls("chat.postMessage")); n != 1 {
		t.Errorf("%d answers posted by shutdown, want the in-flight one", n)
	}
	// Work is not taken after shutdown; the user is told to retry.
	if _, body := h.command("contoso.com"); !strings.Contains(body, "try again") {
		t.Errorf("a command after shutdown was acked %s", body)
	}
}

// Work that outlives the shutdown timeout is cancelled, and Run returns.
func TestShutdownTimeoutCancelsWork(t *testing.T) {
	h := start(t, slowGraph(time.Minute), shutdownTimeout(200*time.Millisecond))
	h.command("contoso.com")
	time.Sleep(50 * time.Millisecond) // let a worker pick it up
	h.stop()
	select {
	case err := <-h.done:
		h.done <- err
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the shutdown timeout")
	}
}

// With HEALTH_ADDR equal to HTTP_ADDR, one listener serves Slack and the
// health endpoints.
func TestSharedHealthAddr(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start(t, func(c *bot.Config, _ *fakeDiagnoser) { c.HTTPAddr, c.HealthAddr = addr, addr })
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/readyz": http.StatusOK, "/metrics": http.StatusOK} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
	resp, err := http.Post("http://"+addr+"/slack/commands", "application/x-www-form-urlencoded", strings.NewReader("text=x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned command on the shared listener: %d", resp.StatusCode)
	}
}
