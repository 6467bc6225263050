// Package deploy holds synwatch's deployment files (docker/, compose/,
// kubernetes/, systemd/) and the tests that keep them, and the example
// configuration in configs/, true to the binary: every subcommand, flag,
// environment variable, config key and port they use must exist.
package deploy
