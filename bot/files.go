package bot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/cacheck/ca-check/diagnose"
)

// Slack turns a long paste into a file (a text snippet): the error is in the
// file, not the message. This file reads such files as pastes.

// maxPasteFile is the largest file read as a paste: a paste's own limit.
const maxPasteFile = 1 << 20

// maxPasteFiles is how many files of one message are read.
const maxPasteFiles = 5

// textFileTypes are Slack filetypes whose content is text.
var textFileTypes = map[string]bool{
	"text": true, "txt": true, "log": true, "json": true, "csv": true, "xml": true, "yaml": true,
	"powershell": true, "shell": true, "markdown": true, "html": true, "javascript": true, "python": true, "post": true,
}

// isTextFile reports whether Slack describes f as text.
func isTextFile(f slack.File) bool {
	mt, _, _ := strings.Cut(strings.ToLower(f.Mimetype), ";")
	switch {
	case f.Mode == "snippet", strings.HasPrefix(mt, "text/"), textFileTypes[strings.ToLower(f.Filetype)]:
		return true
	case mt == "application/json", mt == "application/xml", mt == "application/x-yaml", mt == "application/x-powershell":
		return true
	}
	return false
}

// mayHoldPaste is wantMessage's pre-filter for a message with files: a text
// file may hold a long paste; any other file is worth a word only when the
// message or the file's name says it is about an error.
func mayHoldPaste(m *slackevents.MessageEvent) bool {
	if mayHoldCode(m.Text) {
		return true
	}
	for _, f := range filesOf(m) {
		if isTextFile(f) || f.FileAccess == "check_file_info" || mayHoldCode(f.Title+" "+f.Name) {
			return true
		}
	}
	return false
}

// filesOf is the files a message shared (slack-go keeps a new message's
// fields in Message too).
func filesOf(m *slackevents.MessageEvent) []slack.File {
	if m.Message == nil {
		return nil
	}
	return m.Message.Files
}

// errFileTooLarge and errFileNotText say why a file is not read.
var (
	errFileTooLarge = errors.New("file too large")
	errFileNotText  = errors.New("file not text")
)

// readFiles returns the text of m's text files and, for each file it could
// not read, one line saying why (escaped, for the thread).
func (b *Bot) readFiles(ctx context.Context, files []slack.File) (text string, problems []string) {
	var sb strings.Builder
	for i, f := range files {
		if i == maxPasteFiles {
			problems = append(problems, fmt.Sprintf("I read only the first %d files of a message.", maxPasteFiles))
			break
		}
		content, err := b.readFile(ctx, f)
		name := "*" + diagnose.EscapeMrkdwn(oneLine(orID(f.Title, orID(f.Name, f.ID)))) + "*"
		switch {
		case err == nil:
			sb.WriteString("\n")
			sb.Write(content)
			continue
		case errors.Is(err, errFileTooLarge):
			problems = append(problems, fmt.Sprintf("%s is larger than 1 MiB, more than I read: paste the error message itself.", name))
		case errors.Is(err, errFileNotText):
			what := strings.TrimSpace(f.PrettyType)
			if what == "" {
				what = "not text"
			}
			problems = append(problems, fmt.Sprintf("%s is %s, not text I can read: paste the error as text (a screenshot's text does not reach me).", name, diagnose.EscapeMrkdwn(oneLine(what))))
		default:
			b.logger(ctx).Warn("reading a shared file failed", "file", f.ID, "err", err)
			problems = append(problems, fmt.Sprintf("I could not read %s from Slack just now; try sharing it again, or paste the error as text.", name))
		}
	}
	return sb.String(), problems
}

// readFile downloads one shared file with the bot token when it is text and
// at most maxPasteFile. A file shared from another organization over Slack
// Connect arrives without its details (file_access check_file_info):
// files.info has them.
func (b *Bot) readFile(ctx context.Context, f slack.File) ([]byte, error) {
	if f.FileAccess == "check_file_info" || f.URLPrivateDownload == "" && f.URLPrivate == "" {
		full, _, _, err := b.api.GetFileInfoContext(ctx, f.ID, 0, 0)
		if err != nil {
			b.apiError(ctx, "files.info", err)
			return nil, fmt.Errorf("files.info %s: %w", f.ID, err)
		}
		f = *full
	}
	if !isTextFile(f) || f.IsExternal {
		return nil, errFileNotText
	}
	if f.Size > maxPasteFile {
		return nil, errFileTooLarge
	}
	url := f.URLPrivateDownload
	if url == "" {
		url = f.URLPrivate
	}
	w := &cappedBuffer{max: maxPasteFile}
	if err := b.api.GetFileContext(ctx, url, w); err != nil {
		if w.over {
			return nil, errFileTooLarge
		}
		return nil, fmt.Errorf("download %s: %w", f.ID, err)
	}
	content := w.buf.Bytes()
	if bytes.IndexByte(content, 0) >= 0 || !utf8.Valid(content) {
		return nil, errFileNotText
	}
	return content, nil
}

// cappedBuffer keeps at most max bytes and fails the write past them, so a
// file larger than Slack said is not read whole into memory.
type cappedBuffer struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if c.buf.Len()+len(p) > c.max {
		c.over = true
		return 0, errFileTooLarge
	}
	return c.buf.Write(p)
}

// onFileShared handles a file_shared event: Slack sends it beside the
// message that shared the file, and alone where that message does not reach
// the bot. files.info says which message it was, so that the answer goes in
// its thread and the message's claim answers it once.
func (b *Bot) onFileShared(ctx context.Context, eventID string, ev *slackevents.FileSharedEvent) {
	f, _, _, err := b.api.GetFileInfoContext(ctx, ev.FileID, 0, 0)
	if err != nil {
		b.apiError(ctx, "files.info", err)
		return
	}
	var share *slack.ShareFileInfo
	for _, shares := range []map[string][]slack.ShareFileInfo{f.Shares.Public, f.Shares.Private} {
		if s := shares[ev.ChannelID]; len(s) > 0 {
			share = &s[0]
		}
	}
	if share == nil {
		return // shared elsewhere than where the event says: nothing to answer in
	}
	m := &slackevents.MessageEvent{
		Type: "message", SubType: "file_share", Channel: ev.ChannelID, User: ev.UserID,
		TimeStamp: share.Ts, ThreadTimeStamp: share.ThreadTs, Message: &slack.Msg{Files: []slack.File{*f}},
	}
	if !mayHoldPaste(m) {
		return
	}
	b.onMessage(ctx, eventID, m)
}
