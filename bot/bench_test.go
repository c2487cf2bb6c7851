package bot_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/bot/slacktest"
)

// concurrency is how many slash commands arrive at once in the benchmarks.
const concurrency = 100

// BenchmarkSlashCommandAck sends bursts of 100 concurrent signed slash
// commands over HTTP (loopback, in-process) and reports the ack latency's
// percentiles; the diagnoses and Slack posts behind them run meanwhile.
func BenchmarkSlashCommandAck(b *testing.B) {
	h := start(b, workers(8))
	// The same handler, timed inside the server: what the bot itself adds,
	// apart from the client's and the loopback's share.
	var server []time.Duration
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		h.bot.Handler().ServeHTTP(w, r)
		d := time.Since(t0)
		mu.Lock()
		server = append(server, d)
		mu.Unlock()
	}))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency}}
	var lat []time.Duration
	busy := 0
	for b.Loop() {
		reqs := make([]*http.Request, concurrency)
		for i := range reqs {
			body := h.slack.CommandBody(slack.SlashCommand{ChannelID: channel, UserID: engineer, Text: "contoso.com"})
			reqs[i] = slacktest.NewSignedRequest(srv.URL+"/slack/commands", secret, slacktest.ContentForm, body, time.Time{})
		}
		var wg sync.WaitGroup
		startGun := make(chan struct{})
		for _, req := range reqs {
			wg.Go(func() {
				<-startGun
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				d := time.Since(t0)
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
				}
				mu.Lock()
				lat = append(lat, d)
				if strings.Contains(string(body), "busy") {
					busy++ // acked, but refused for a full queue
				}
				mu.Unlock()
			})
		}
		close(startGun)
		wg.Wait()
		drain(b, h, len(lat)-busy)
	}
	reportPercentiles(b, "", lat)
	reportPercentiles(b, "server-", server)
	b.ReportMetric(float64(busy)/float64(len(lat)), "busy-acks/ack")
}

// BenchmarkSocketModeAck is the same burst over Socket Mode: envelopes
// written to the websocket, latency until each ack is read back.
func BenchmarkSocketModeAck(b *testing.B) {
	h := start(b, socketMode, workers(8))
	var lat []time.Duration
	var mu sync.Mutex
	for b.Loop() {
		var wg sync.WaitGroup
		for range concurrency {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				ack, err := h.slack.SlashCommand(ctx, slack.SlashCommand{ChannelID: channel, UserID: engineer, Text: "contoso.com"})
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				lat = append(lat, ack.Latency)
				mu.Unlock()
			})
		}
		wg.Wait()
		drain(b, h, len(lat))
	}
	reportPercentiles(b, "", lat)
}

// drain waits until the answers to the accepted commands are posted, so that
// each burst meets an idle bot (while the burst itself competes with the
// work it queues, as in production).
func drain(b *testing.B, h *harness, answers int) {
	b.StopTimer()
	defer b.StartTimer()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := h.slack.WaitCalls(ctx, answers, "chat.postMessage"); err != nil {
		b.Fatal(err)
	}
}

func reportPercentiles(b *testing.B, prefix string, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), prefix+"p50-ms")
	b.ReportMetric(at(0.99), prefix+"p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, prefix+"max-ms")
	b.ReportMetric(0, "ns/op") // a burst's wall time is not the figure of interest
}
