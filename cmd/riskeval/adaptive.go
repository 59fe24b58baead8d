package main

import "io"

func adaptiveCmd(args []string, stdout, stderr io.Writer) error { return errUsage }
