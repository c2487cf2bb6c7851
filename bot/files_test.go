package bot_test

import (
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/bot/slacktest"
	"github.com/cacheck/ca-check/diagnose"
	"github.com/cacheck/ca-check/scan"
)

// fileShare is the message event of a message that shared files, as Slack
// sends it for a long paste turned into a snippet.
func fileShare(user, ts, text string, files ...slack.File) map[string]any {
	m := slacktest.Message(channel, user, ts, "", text)
	m["subtype"] = "file_share"
	m["upload"] = true
	m["files"] = files
	return m
}

// Slack turns a long paste into a text snippet: the error in the file is
// read with the bot token and answered in the message's thread, once, even
// though Slack also sends file_shared for it.
func TestLongPasteAsFile(t *testing.T) {
	h := start(t)
	f := h.slack.AddFile(slack.File{ID: "F0PASTE", Name: "message.txt", Title: "Untitled", Mimetype: "text/plain", Filetype: "text", Mode: "snippet"},
		[]byte(strings.Repeat("noise before the error\n", 200)+readFile(t, "paste-with-tenant.txt")))
	ts := "1700003000.000100"
	h.event("EvFile1", fileShare(engineer, ts, "", f))
	post := h.wait(1, "chat.postMessage")[0]
	if post.Arg("thread_ts") != ts || !strings.Contains(post.Text(), "7d2c4b91-3f5e-4a8b-b1c6-0e9f2a4d6c83") || !strings.Contains(post.Text(), "Contoso") {
		t.Errorf("the snippet's error was not answered in its thread (thread %q):\n%s", post.Arg("thread_ts"), post.Text())
	}
	dl := h.slack.Calls(slacktest.MethodFileDownload)
	if len(dl) == 0 || dl[0].Token != "xoxb-test" {
		t.Fatalf("the file was not downloaded with the bot token: %v", dl)
	}

	// Slack's file_shared for the same file: files.info finds the message,
	// whose answer is given already.
	h.slack.SetFileShare("F0PASTE", channel, ts, "")
	h.event("EvFile2", map[string]any{"type": "file_shared", "file_id": "F0PASTE", "user_id": engineer, "channel_id": channel, "event_ts": ts,
		"file": map[string]any{"id": "F0PASTE"}})
	h.settle()
	if n := len(h.slack.Calls("chat.postMessage")); n != 1 {
		t.Errorf("answered %d times, want once", n)
	}
	if n := h.diag.diagnoses.Load(); n != 1 {
		t.Errorf("diagnosed %d times, want once", n)
	}
}

// file_shared alone (the message event did not reach the bot) is answered
// in the sharing message's thread.
func TestFileSharedEventAlone(t *testing.T) {
	h := start(t)
	h.slack.AddFile(slack.File{ID: "F0ALONE", Name: "error.log", Mimetype: "text/plain", Filetype: "log"}, []byte(readFile(t, "paste-with-tenant.txt")))
	h.slack.SetFileShare("F0ALONE", channel, "1700003100.000200", "1700003100.000100")
	h.event("EvFile3", map[string]any{"type": "file_shared", "file_id": "F0ALONE", "user_id": engineer, "channel_id": channel, "event_ts": "1700003100.000200",
		"file": map[string]any{"id": "F0ALONE"}})
	post := h.wait(1, "chat.postMessage")[0]
	if post.Arg("thread_ts") != "1700003100.000100" || !strings.Contains(post.Text(), "AADSTS53003") {
		t.Errorf("file_shared not answered in the thread (%q):\n%s", post.Arg("thread_ts"), post.Text())
	}
}

// A file shared over Slack Connect comes without its details
// (check_file_info): files.info has them.
func TestSlackConnectFileNeedsFileInfo(t *testing.T) {
	h := start(t)
	h.slack.AddFile(slack.File{ID: "F0SHARED", Name: "paste.txt", Mimetype: "text/plain", Filetype: "text"}, []byte(readFile(t, "paste-with-tenant.txt")))
	h.event("EvFile4", fileShare(engineer, "1700003200.000100", "", slack.File{ID: "F0SHARED", FileAccess: "check_file_info"}))
	post := h.wait(1, "chat.postMessage")[0]
	if !strings.Contains(post.Text(), "AADSTS53003") {
		t.Errorf("not answered:\n%s", post.Text())
	}
	if len(h.slack.Calls("files.info")) != 1 {
		t.Errorf("files.info was not asked: %v", methodsOf(h.slack.Calls()))
	}
}

// A file that is not text, or too large, is said in the thread when the
// message is about an error; the file is not downloaded.
func TestUnreadableFilesAreSaid(t *testing.T) {
	cases := []struct {
		name    string
		file    slack.File
		content []byte
		want    string
		fetched bool
	}{
		{"screenshot", slack.File{ID: "F0PNG", Name: "error.png", Title: "AADSTS error <!channel>", Mimetype: "image/png", Filetype: "png", PrettyType: "PNG"}, []byte("\x89PNG"), "is PNG, not text", false},
		{"too large", slack.File{ID: "F0BIG", Name: "signin.log", Mimetype: "text/plain", Filetype: "log", Size: 3 << 20}, []byte("AADSTS53003"), "larger than 1 MiB", false},
		{"larger than Slack said", slack.File{ID: "F0LIAR", Name: "signin.log", Mimetype: "text/plain", Filetype: "log", Size: 100}, []byte(strings.Repeat("x", 1<<20+10)), "larger than 1 MiB", true},
		{"binary calling itself text", slack.File{ID: "F0BIN", Name: "dump.txt", Mimetype: "text/plain", Filetype: "text"}, []byte("AADSTS53003\x00\x01"), "not text I can read", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := start(t)
			f := h.slack.AddFile(c.file, c.content)
			h.event("EvBad", fileShare(engineer, "1700003300.000100", "here is the error I get", f))
			post := h.wait(1, "chat.postMessage")[0]
			if post.Arg("thread_ts") != "1700003300.000100" || !strings.Contains(post.Text(), c.want) {
				t.Errorf("said %q in thread %q, want %q", post.Text(), post.Arg("thread_ts"), c.want)
			}
			if strings.Contains(post.Text(), "<!channel>") {
				t.Errorf("a file's title reached Slack unescaped: %s", post.Text())
			}
			if got := len(h.slack.Calls(slacktest.MethodFileDownload)) > 0; got != c.fetched {
				t.Errorf("downloaded = %v, want %v", got, c.fetched)
			}
			if h.diag.diagnoses.Load() != 0 {
				t.Error("diagnosed without an error")
			}
		})
	}
}

// A file shared by someone who may not ask is not read at all.
func TestOutsiderFileNotRead(t *testing.T) {
	h := start(t)
	h.slack.AddUser(slack.User{ID: "U0CONTOSOADM", TeamID: "T0CONTOSO"})
	f := h.slack.AddFile(slack.File{ID: "F0EXT", Name: "message.txt", Mimetype: "text/plain", Filetype: "text", Mode: "snippet"}, []byte(readFile(t, "paste-with-tenant.txt")))
	h.event("EvExt", fileShare("U0CONTOSOADM", "1700003400.000100", "", f))
	h.settle()
	if calls := h.slack.Calls(slacktest.MethodFileDownload, "files.info", "chat.postMessage", "chat.postEphemeral"); len(calls) != 0 {
		t.Errorf("an outsider's file was read or answered: %v", methodsOf(calls))
	}
}

// A scan's digest goes to the channel with the whole result as a CSV file.
func TestScanDigestWithCSV(t *testing.T) {
	h := start(t)
	rep := scan.NewReport(partnerID, time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC), []scan.TenantResult{
		{Tenant: scan.Tenant{ID: contosoID, DisplayName: "=cmd|' /C calc'!A0"}, Verdict: diagnose.VerdictLikelyBlocked,
			Blocking: []scan.Policy{{ID: "p1", DisplayName: "Require compliant device", Effect: diagnose.EffectBlocks}}},
		{Tenant: scan.Tenant{ID: fabrikamID, DisplayName: "Fabrikam"}, Error: "no consent", ErrorCode: "unauthorized"},
	})
	if err := h.bot.PostDigest(t.Context(), channel, "", rep, nil, engineer); err != nil {
		t.Fatal(err)
	}
	post := h.wait(1, "chat.postMessage")[0]
	if !strings.Contains(post.Text(), "Require compliant device") || !strings.Contains(post.Text(), "no consent") {
		t.Errorf("digest:\n%s", post.Text())
	}
	up := h.wait(1, slacktest.MethodFileUpload)[0]
	csv := string(up.Body)
	if !strings.HasSuffix(up.Arg("filename"), ".csv") || !strings.Contains(csv, contosoID) || !strings.Contains(csv, fabrikamID) {
		t.Errorf("CSV %s:\n%s", up.Arg("filename"), csv)
	}
	if strings.Contains(csv, ",=cmd") || strings.Contains(csv, "\n=cmd") {
		t.Errorf("a formula reached the CSV undefused:\n%s", csv)
	}
	if done := h.wait(1, "files.completeUploadExternal")[0]; done.Arg("channel_id") != channel {
		t.Errorf("the CSV was shared in %q", done.Arg("channel_id"))
	}
}
