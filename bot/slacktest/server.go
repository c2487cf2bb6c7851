// Package slacktest is a fake Slack for tests: an httptest server that speaks
// the Web API methods ca-check's bot calls, records every call for
// assertions, serves Socket Mode over a local websocket, and builds the signed
// HTTP requests Slack would send in HTTP mode.
//
// slack-go's own slacktest targets the old RTM API and lacks chat.update,
// conversations.open, views.* and Socket Mode, hence this package. It is
// importable so that the end-to-end test of cmd/ca-check drives the same
// fake as the bot's own tests.
package slacktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// Identities the fake answers auth.test with.
const (
	TeamID    = "T0CACHECK"
	BotUserID = "U0CABOT"
	BotID     = "B0CABOT"
	AppID     = "A0CACHECK"
)

// MethodResponseURL is the Method of calls recorded at a response_url.
const MethodResponseURL = "response_url"

// MethodFileUpload is the Method of calls recorded at the upload URL that
// files.getUploadURLExternal hands out; Args "file" is the new file's ID,
// "filename" its name, and Body the file's content.
const MethodFileUpload = "file_upload"

// MethodFileDownload is the Method of calls recorded at a file's
// url_private_download; Args "file" is the file's ID.
const MethodFileDownload = "file_download"

// Server is a fake Slack Web API and Socket Mode endpoint.
type Server struct {
	// URL is the server's base URL, without a trailing slash.
	URL string
	// APIURL is the Web API base for slack.OptionAPIURL: URL + "/api/",
	// trailing slash included as slack-go requires.
	APIURL string

	srv *httptest.Server

	mu      sync.Mutex
	changed chan struct{} // closed and replaced whenever calls change
	calls   []Call
	seq     int
	fail    map[string][]string // method → queued Slack error codes
	outside map[string]bool     // channels the bot is not a member of
	shared  map[string]bool     // channels shared with another organization
	users   map[string]slack.User
	groups  map[string][]string // user group ID → members
	files   map[string]storedFile
	uploads int // files.getUploadURLExternal's IDs
	// enterprise is the Enterprise Grid organization auth.test names.
	enterprise string
	latency    map[string]time.Duration
	sock       *socket
	sockWait   chan struct{} // closed when a socket connects
	acks       map[string]chan json.RawMessage
	envSeq     int
	// PingInterval is how often the fake pings Socket Mode clients; slack-go
	// reconnects when no ping arrives within its own interval (30 s).
	pingInterval time.Duration
}

// New starts a fake Slack. Close it when done.
func New() *Server {
	s := &Server{
		changed:      make(chan struct{}),
		fail:         map[string][]string{},
		outside:      map[string]bool{},
		shared:       map[string]bool{},
		users:        map[string]slack.User{},
		groups:       map[string][]string{},
		files:        map[string]storedFile{},
		latency:      map[string]time.Duration{},
		sockWait:     make(chan struct{}),
		acks:         map[string]chan json.RawMessage{},
		pingInterval: 2 * time.Second,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/{method}", s.serveAPI)
	mux.HandleFunc("GET /api/{method}", s.serveAPI)
	mux.HandleFunc("POST /response/{id}", s.serveResponseURL)
	mux.HandleFunc("GET /socket", s.serveSocket)
	mux.HandleFunc("GET /files/{id}", s.serveFile)
	mux.HandleFunc("POST /upload/{id}", s.serveUpload)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	s.APIURL = s.srv.URL + "/api/"
	return s
}

// Close shuts the server and any Socket Mode connection down.
func (s *Server) Close() {
	s.mu.Lock()
	sock := s.sock
	s.mu.Unlock()
	if sock != nil {
		sock.close()
	}
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Client returns an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// ResponseURL returns a response_url for a slash command or interaction;
// posts to it are recorded as calls with Method MethodResponseURL and Args
// "id" set to id.
func (s *Server) ResponseURL(id string) string {
	return s.URL + "/response/" + url.PathEscape(id)
}

// NotInChannel makes chat.postMessage and chat.postEphemeral to channel fail
// with not_in_channel, as Slack does when the bot is not a member.
func (s *Server) NotInChannel(channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outside[channel] = true
}

// SharedExternally makes conversations.info say channel is shared with
// another organization (Slack Connect).
func (s *Server) SharedExternally(channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shared[channel] = true
}

// FailNext makes the next call to method fail with the Slack error code
// (ratelimited, channel_not_found, …). Calls queue up.
func (s *Server) FailNext(method, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[method] = append(s.fail[method], code)
}

// SetLatency delays every answer to method by d.
func (s *Server) SetLatency(method string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency[method] = d
}

// AddUser makes users.info know u.
func (s *Server) AddUser(u slack.User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.ID] = u
}

// SetUserGroup makes usergroups.users.list answer members for group.
func (s *Server) SetUserGroup(group string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[group] = members
}

type storedFile struct {
	info    slack.File
	content []byte
}

// AddFile stores a file for files.info and its download, and returns it as
// a message event or files.info shows it: url_private_download pointing at
// the fake, Size set from content unless f.Size is set (a file that lies
// about its size).
func (s *Server) AddFile(f slack.File, content []byte) slack.File {
	s.mu.Lock()
	defer s.mu.Unlock()
	f.URLPrivate = s.URL + "/files/" + url.PathEscape(f.ID)
	f.URLPrivateDownload = f.URLPrivate + "?download=1"
	if f.Size == 0 {
		f.Size = len(content)
	}
	s.files[f.ID] = storedFile{info: f, content: content}
	return f
}

// SetFileShare records that file id was shared in channel by the message at
// ts (in thread threadTS, "" for a top-level message), as files.info's
// shares say.
func (s *Server) SetFileShare(id, channel, ts, threadTS string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[id]
	f.info.Shares.Public = map[string][]slack.ShareFileInfo{channel: {{Ts: ts, ThreadTs: threadTS}}}
	s.files[id] = f
}

// serveUpload takes a file uploaded to an upload URL, as multipart form
// data with the content in the field "file".
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	c := Call{Method: MethodFileUpload, Args: url.Values{"file": {r.PathValue("id")}}, Token: bearer(r.Header.Get("Authorization"))}
	f, hdr, err := r.FormFile("file")
	if err != nil {
		c.Error = "no file"
		s.record(c)
		http.Error(w, "no file", http.StatusBadRequest)
		return
	}
	defer f.Close()
	c.Body, _ = io.ReadAll(f)
	c.Args.Set("filename", hdr.Filename)
	s.record(c)
	w.Write([]byte("OK"))
}

func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c := Call{Method: MethodFileDownload, Args: url.Values{"file": {id}}, Token: bearer(r.Header.Get("Authorization"))}
	s.record(c)
	s.mu.Lock()
	f, ok := s.files[id]
	s.mu.Unlock()
	if !ok || c.Token == "" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(f.content)
}

// SetEnterprise makes auth.test say the bot is installed in an Enterprise
// Grid organization.
func (s *Server) SetEnterprise(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.enterprise = id
}

// Reset forgets the recorded calls.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
	s.notifyLocked()
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.Seq = len(s.calls)
	s.calls = append(s.calls, c)
	s.notifyLocked()
}

// Calls returns the calls recorded so far to any of methods (all calls when
// none is given), in order.
func (s *Server) Calls(methods ...string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if len(methods) == 0 || slices.Contains(methods, c.Method) {
			out = append(out, c)
		}
	}
	return out
}

// WaitCalls waits until at least n calls to any of methods have been
// recorded and returns all of them; it fails when ctx ends first.
func (s *Server) WaitCalls(ctx context.Context, n int, methods ...string) ([]Call, error) {
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if got := s.Calls(methods...); len(got) >= n {
			return got, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			got := s.Calls(methods...)
			return got, fmt.Errorf("slacktest: waited for %d call(s) to %v, got %d: %w", n, methods, len(got), ctx.Err())
		}
	}
}

// nextTS returns a fresh message timestamp.
// WaitFor returns the first call to method that match accepts, waiting for
// it until ctx is done.
func (s *Server) WaitFor(ctx context.Context, method string, match func(Call) bool) (Call, error) {
	for n := 1; ; n++ {
		calls, err := s.WaitCalls(ctx, n, method)
		if err != nil {
			return Call{}, err
		}
		if i := slices.IndexFunc(calls, match); i >= 0 {
			return calls[i], nil
		}
	}
}

func (s *Server) nextTS() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return fmt.Sprintf("1700000000.%06d", s.seq)
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	body, _ := io.ReadAll(r.Body)
	c := Call{Method: method, Body: body, Args: url.Values{}, Token: bearer(r.Header.Get("Authorization")), Header: r.Header.Clone()}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		c.JSON = decodeJSON(body)
		for k, v := range c.JSON {
			c.Args.Set(k, flatten(v))
		}
	} else {
		vals, _ := url.ParseQuery(string(body))
		for k, v := range r.URL.Query() {
			vals[k] = v
		}
		c.Args = vals
	}
	if t := c.Args.Get("token"); t != "" && c.Token == "" {
		c.Token = t
	}
	c.Args.Del("token")
	c.Blocks = decodeBlocks(method, c)

	s.mu.Lock()
	delay := s.latency[method]
	var failure string
	if q := s.fail[method]; len(q) > 0 {
		failure, s.fail[method] = q[0], q[1:]
	}
	if failure == "" && (method == "chat.postMessage" || method == "chat.postEphemeral") && s.outside[c.Args.Get("channel")] {
		failure = "not_in_channel"
	}
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
		}
	}
	c.Error = failure
	s.record(c)
	if failure != "" {
		writeJSON(w, map[string]any{"ok": false, "error": failure})
		return
	}
	writeJSON(w, s.answer(r, c))
}

// answer is the successful response of each method the bot uses.
func (s *Server) answer(r *http.Request, c Call) map[string]any {
	ok := map[string]any{"ok": true}
	switch c.Method {
	case "auth.test":
		ok["url"] = "https://cacheck-test.slack.com/"
		ok["team"] = "ca-check test"
		ok["user"] = "ca-check"
		ok["team_id"] = TeamID
		ok["user_id"] = BotUserID
		ok["bot_id"] = BotID
		s.mu.Lock()
		if s.enterprise != "" {
			ok["enterprise_id"] = s.enterprise
		}
		s.mu.Unlock()
	case "chat.postMessage":
		ts := s.nextTS()
		ok["channel"] = c.Args.Get("channel")
		ok["ts"] = ts
		ok["message"] = map[string]any{"type": "message", "ts": ts, "thread_ts": c.Args.Get("thread_ts"), "bot_id": BotID, "text": c.Args.Get("text")}
	case "chat.postEphemeral":
		ok["message_ts"] = s.nextTS()
	case "chat.update":
		ok["channel"] = c.Args.Get("channel")
		ok["ts"] = c.Args.Get("ts")
		ok["text"] = c.Args.Get("text")
	case "conversations.open":
		users := c.Args.Get("users")
		ok["channel"] = map[string]any{"id": "D" + strings.ReplaceAll(users, ",", "")}
	case "views.publish":
		ok["view"] = map[string]any{"id": "V" + c.Args.Get("user_id"), "type": "home"}
	case "users.info":
		id := c.Args.Get("user")
		s.mu.Lock()
		u, known := s.users[id]
		s.mu.Unlock()
		if !known {
			u = slack.User{ID: id, Name: strings.ToLower(id), TeamID: TeamID, RealName: "User " + id}
		}
		ok["user"] = u
	case "files.info":
		s.mu.Lock()
		f, known := s.files[c.Args.Get("file")]
		s.mu.Unlock()
		if !known {
			return map[string]any{"ok": false, "error": "file_not_found"}
		}
		ok["file"] = f.info
	case "conversations.info":
		id := c.Args.Get("channel")
		s.mu.Lock()
		ext := s.shared[id]
		s.mu.Unlock()
		ok["channel"] = map[string]any{"id": id, "is_channel": true, "is_ext_shared": ext, "is_shared": ext}
	case "files.getUploadURLExternal":
		s.mu.Lock()
		s.uploads++
		id := fmt.Sprintf("F0UP%04d", s.uploads)
		s.mu.Unlock()
		ok["upload_url"] = s.URL + "/upload/" + id
		ok["file_id"] = id
	case "files.completeUploadExternal":
		var files []map[string]any
		_ = json.Unmarshal([]byte(c.Args.Get("files")), &files)
		ok["files"] = files
	case "usergroups.users.list":
		s.mu.Lock()
		members, known := s.groups[c.Args.Get("usergroup")]
		s.mu.Unlock()
		if !known {
			return map[string]any{"ok": false, "error": "no_such_subteam"}
		}
		ok["users"] = members
	case "apps.connections.open":
		ok["url"] = "ws" + strings.TrimPrefix(s.URL, "http") + "/socket"
	}
	return ok
}

func (s *Server) serveResponseURL(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c := Call{Method: MethodResponseURL, Body: body, Args: url.Values{}, JSON: decodeJSON(body), Header: r.Header.Clone()}
	for k, v := range c.JSON {
		c.Args.Set(k, flatten(v))
	}
	c.Args.Set("id", r.PathValue("id"))
	c.Blocks = decodeBlocks(MethodResponseURL, c)
	s.record(c)
	writeJSON(w, map[string]any{"ok": true})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func bearer(h string) string {
	t, _ := strings.CutPrefix(h, "Bearer ")
	return t
}

func decodeJSON(body []byte) map[string]any {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	_ = dec.Decode(&m)
	return m
}

// flatten turns a JSON value into the string a form field would carry.
func flatten(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// decodeBlocks decodes the blocks of a message, or of a view for views.*.
func decodeBlocks(method string, c Call) slack.Blocks {
	var blocks slack.Blocks
	raw := c.Args.Get("blocks")
	if strings.HasPrefix(method, "views.") {
		var v struct {
			Blocks json.RawMessage `json:"blocks"`
		}
		if json.Unmarshal([]byte(c.Args.Get("view")), &v) == nil {
			raw = string(v.Blocks)
		}
	}
	if raw != "" {
		_ = json.Unmarshal([]byte(raw), &blocks)
	}
	return blocks
}
