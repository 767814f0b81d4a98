// Package hostcgroup answers "what does this process's container look like":
// which cgroup layout the host has (v1, hybrid or v2, detected per controller
// from mountinfo), where a process sits in each hierarchy, who the init of
// its pid namespace is, and the container's limits and usage as one
// version-neutral Snapshot.
//
// cgroup v1 and v2 file names appear only in the *_v1.go and *_v2.go files of
// this package. Everything is read below the roots given in Options, so tests
// run against fixture trees of each layout.
//
// Errors wrap ErrParse, ErrNoController or ErrNoProcess; callers test them
// with errors.Is. Parsers never panic on kernel input.
package hostcgroup
