package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// reloadLoop re-reads the users file on SIGHUP (`systemctl reload outpost`):
// new logins are checked against the new file, connected clients stay. A
// file that does not parse is refused, with its line, and the previous users
// stay in force. SIGHUP is caught even without a users file, so a reload
// never terminates the node. It stops with ctx.
func (n *node) reloadLoop(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			n.reloadUsers()
		}
	}
}

func (n *node) reloadUsers() {
	file := n.cfg.Auth.UsersFile
	if file == "" || n.auth == nil {
		n.log.Info().Msg("SIGHUP: no auth.users_file configured, nothing to reload")
		return
	}
	count, err := n.auth.ReloadUsers(file)
	if err != nil {
		n.log.Error().Err(err).Msg("SIGHUP: users file not reloaded; the previous users stay in force")
		return
	}
	n.log.Info().Str("file", file).Int("users", count).Msg("SIGHUP: users file reloaded")
}
