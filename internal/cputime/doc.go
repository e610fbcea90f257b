// Package cputime reads the CPU time the process has used (getrusage), for
// firmware-sim's reports and the node's GOMAXPROCS governor.
package cputime
