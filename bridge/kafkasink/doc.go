// Package kafkasink is a bridge.Sink that produces to Kafka with franz-go.
//
// Each message becomes one Kafka record: value = payload, key from
// Options.Key (the MQTT topic by default), timestamp = the record's ingest
// time, headers mqtt.topic, mqtt.qos, mqtt.retain, content-type (when set),
// outpost.origin, outpost.offset, outpost.id, then the MQTT 5 user properties
// verbatim in publisher order. The producer is idempotent and waits for all
// in-sync replicas; order is kept per partition (the default partitioner
// hashes the key, so per MQTT topic with the default key).
//
// Concurrency: the bridge calls Connect, Send and Disconnect from one
// goroutine; acks are called on franz-go's promise goroutine and never block.
package kafkasink
