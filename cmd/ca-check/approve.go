package main

import "github.com/cacheck/ca-check/bot"

// The bot applies approved fixes, reverts them and checks approvers through
// graphclient: live gets Apply, Revert and IsApprover from the embedded
// *graphclient.Client, all typed in diagnose, so serve passes it to
// bot.WithChanger as it is.
var _ bot.Changer = live{}
