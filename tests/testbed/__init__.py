"""The test bed's own tests (testbed/): emulators, proxy, ports."""
