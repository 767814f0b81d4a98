// Command pause is the pod sandbox's process in the e2e cluster
// (tests/kubernetes): the registry's pause image cannot be pulled here, and
// it only has to wait for the signal that ends the pod.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}
