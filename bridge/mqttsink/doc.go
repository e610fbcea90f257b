// Package mqttsink is a bridge.Sink that publishes to an upstream (cloud)
// MQTT 5 broker with paho.golang, and maps upstream subscriptions back into
// the local broker (downlink).
//
// Uplink: every message is published at QoS max(message QoS, MinQoS) (1 by
// default), capped at the server's maximum QoS (retain dropped when the
// server has no retained messages), with the record id in user property "outpost-id" =
// "<origin>:<offset>"; the record's MQTT 5 properties travel too. Messages
// are written to the connection in Send order with up to the bridge's window
// awaiting PUBACK. The session is clean start false with a session expiry,
// so downlink subscriptions survive reconnects.
//
// Defence: paho.golang v0.23.0 allocates whatever packet length the server
// claims. The connection is wrapped (capconn.go) so a packet whose claimed
// size exceeds Options.MaxPacketSize fails the read before paho allocates it,
// and CONNECT announces the same maximum to the server.
//
// Downlink: PUBLISHes arriving on Options.Downlink subscriptions are mapped
// to local topics and handed to Options.Inject; the upstream PUBACK is sent
// only after Inject succeeded (at least once).
//
// Concurrency: the bridge calls Connect, Send and Disconnect from one
// goroutine. Send starts one goroutine per message in flight; Disconnect
// waits for all of them. Inject is called from paho's receive goroutine.
package mqttsink
