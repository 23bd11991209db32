// A small HTTP service that exits cleanly on SIGTERM, so a binary built with -cover writes
// its coverage counters to $GOCOVERDIR (they are written only when main returns or os.Exit
// is called, never on SIGKILL).
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func greet(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" {
		name = "world"
	}
	fmt.Fprintf(w, "hello, %s\n", name)
}

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("/", greet)
	srv := &http.Server{Addr: ":8080", Handler: mux}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}()
	<-ctx.Done()
	_ = srv.Shutdown(context.Background())
	// Returning from main flushes the coverage counters to $GOCOVERDIR.
}
