// Package check verifies that every (device, seq) published by a fleet
// arrived: it counts lost, duplicated and reordered messages per device.
//
// The core (Checker) is pure: it is fed observations and produces a Report,
// with no goroutines, clock or I/O. Run is the MQTT front: it subscribes to
// a broker (the edge node itself, or an upstream broker the node bridges to)
// and feeds the Checker until a stop condition holds.
//
// Checker is not safe for concurrent use; Run serialises observations.
// Messages must carry a JSON object with "device" and "seq" fields (the
// firmware-sim "json" payload format); other payloads count as undecodable.
package check
