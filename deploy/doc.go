// Package deploy holds no code. Its folder has the deployment manifests of
// ficus (Kubernetes, docker compose, systemd, the Dockerfile); its tests check
// them statically, because Docker and a cluster are not available where the
// tests run: see README.md in this folder.
package deploy
