// Package upstreamtest is test support for the bridge packages: a real
// Mosquitto started on a free port, a TCP proxy whose link can be cut and
// restored, and an MQTT 5 subscriber that records what arrives upstream.
// Only tests import it.
package upstreamtest
