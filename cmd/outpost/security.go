package main

import (
	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/bridge"
	"github.com/outpost-edge/outpost/edge"
)

// warnInsecure logs, once at start, the settings that weaken the node's
// security or lock everyone out. It never logs a secret, only its key.
func warnInsecure(cfg Config, log zerolog.Logger) {
	for _, l := range cfg.MQTT.Listeners {
		anon := edge.IsLoopback(l.Address)
		if l.AllowAnonymous != nil {
			anon = *l.AllowAnonymous
		}
		switch {
		case anon && !edge.IsLoopback(l.Address):
			log.Warn().Str("listener", l.Name).Str("address", l.Address).Msg("anonymous MQTT clients allowed on a non-loopback listener")
		case !anon && cfg.Auth.UsersFile == "" && l.UsernameFromCert == "":
			log.Warn().Str("listener", l.Name).Str("address", l.Address).
				Msg("listener admits no one: allow_anonymous is false and there is no auth.users_file or username_from_cert")
		}
	}
	for _, b := range cfg.Bridges {
		var tls bridge.TLSOptions
		var inline, creds bool
		switch {
		case b.Kafka != nil:
			tls, inline, creds = b.Kafka.TLS, b.Kafka.SASL.Password != "", b.Kafka.SASL.Mechanism != ""
		case b.MQTT != nil:
			tls, inline = b.MQTT.TLS, b.MQTT.Password != ""
			creds = inline || b.MQTT.PasswordFile != "" || b.MQTT.PasswordEnv != ""
		}
		if inline {
			log.Warn().Str("bridge", b.Name).Msg("bridge password is written in the config file; prefer password_file or password_env")
		}
		if tls.InsecureSkipVerify {
			log.Warn().Str("bridge", b.Name).Msg("bridge TLS does not verify the server certificate (insecure_skip_verify)")
		}
		if creds && !tls.Enable {
			log.Warn().Str("bridge", b.Name).Msg("bridge credentials are sent without TLS")
		}
	}
}
