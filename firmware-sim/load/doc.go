// Package load is firmware-sim's benchmark load generator: N publishers send
// M messages each (or a fixed total rate for a duration) while S subscribers
// receive them, and it reports throughput, delivery and latency.
//
// Latency is receive time minus the send timestamp carried in the payload
// header, so publishers and subscribers must run in this process. Pipelined
// mode keeps up to Inflight QoS 1/2 publishes outstanding per publisher;
// wait mode sends the next one only after the previous acknowledgement.
//
// Run owns every goroutine it starts and returns after all have stopped.
// The result is a plain struct; the caller prints it.
package load
