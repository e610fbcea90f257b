// Package mqttc is the one small MQTT client interface firmware-sim uses,
// with three implementations: MQTT 3.1.1 over eclipse/paho.mqtt.golang,
// MQTT 5 over eclipse/paho.golang, and, for load generation (Options.Lean),
// both over mochi-mqtt's packet codec with fewer goroutines (lean.go). It
// never reconnects on its own: firmware decides when and how to reconnect
// (backoff, jitter, buffering).
//
// Concurrency: a Client's methods may be called from several goroutines.
// Handlers run on the client's receive goroutine, one message at a time, and
// must not block for long (the lean client's Publish, before it has a receive
// goroutine, delivers what arrives while it waits on the caller's); OnLost
// is called at most once, on its own goroutine, and never after Close.
package mqttc
