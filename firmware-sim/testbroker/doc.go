// Package testbroker runs a plain in-process mochi-mqtt v2 broker on
// 127.0.0.1 for firmware-sim's tests: anonymous access, TCP only. It can be
// stopped and restarted on the same port to simulate a broker restart.
//
// It is test support only; firmware-sim's commands never import it.
package testbroker
