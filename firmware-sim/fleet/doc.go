// Package fleet simulates a fleet of MQTT sensor devices with realistic
// firmware behaviour.
//
// It owns the fleet profile (strict YAML with key-path errors), the device
// firmware loop (sample signals, publish, buffer while disconnected, flush on
// reconnect, answer commands, retained status with an "offline" last will),
// and the reconnect backoff with jitter that keeps a restarted broker from a
// thundering herd. It talks to brokers only through mqttc: it is a black-box
// client and imports nothing from the broker.
//
// Concurrency: Fleet.Run owns one goroutine per device and returns only after
// all of them stopped. Stats may be called concurrently with Run. The pure
// parts (Backoff, buffer, payload encoding) have no goroutines and take time
// or randomness as arguments.
package fleet
