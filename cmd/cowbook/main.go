// Command cowbook is the cowbook matching engine: node, tools and benchmarks.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "cowbook:", err)
		os.Exit(exitCode(err))
	}
}
