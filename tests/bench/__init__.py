"""The bench's own tests (bench/): its S3 server, remotes and workload."""
