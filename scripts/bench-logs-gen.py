#!/usr/bin/env python3
"""Writes an istiod-shaped log of at least SIZE bytes (default 1 GiB) to PATH for scripts/bench-logs.sh.

Ordinary lines are istiod's own messages (pilot/pkg/xds ads.go/discovery.go/debounce, pkg/log text format);
the three signatures are sparse (about one line in 50 000 each), in the shapes of tests/fixtures/logs.
"""
import sys
from datetime import datetime, timedelta, timezone

path = sys.argv[1]
size = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 30
t0 = datetime(2024, 3, 1, 0, 0, 0, tzinfo=timezone.utc)
SA = "system:serviceaccount:istio-system:istiod"
written = 0
minute = 0
with open(path, "w", buffering=8 << 20) as f:
    while written < size:
        base = (t0 + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:")
        lines = []
        for i in range(20000):
            ts = f"{base}{(i * 3) // 1000:02d}.{(i * 2999) % 1000000:06d}Z"
            node = f"reviews-v{i % 3 + 1}-7d8f{i % 97:02d}c9b4-x{i % 89:02d}z.bookinfo-{i % 13}"
            k = i % 6
            if k == 0:
                lines.append(f"{ts}\tinfo\tads\tADS: new connection for node:{node}-{minute}")
            elif k == 1:
                lines.append(f"{ts}\tinfo\tads\tCDS: PUSH request for node:{node}-{minute} resources:{40 + i % 60} size:{30 + i % 50}.{i % 10}kB")
            elif k == 2:
                lines.append(f"{ts}\tinfo\tads\tEDS: PUSH request for node:{node}-{minute} resources:{20 + i % 40} size:{5 + i % 20}.{i % 10}kB empty:0 cached:{i % 20}/{20 + i % 40}")
            elif k == 3:
                lines.append(f"{ts}\tinfo\tPush debounce stable[{minute * 20000 + i}] {1 + i % 5} for config ServiceEntry/bookinfo-{i % 13}/reviews: 100.{i % 1000:03d}ms since last change, 100.{i % 1000:03d}ms since last push, full=true")
            elif k == 4:
                lines.append(f"{ts}\tinfo\tads\tXDS: Pushing Services:{120 + i % 30} ConnectedEndpoints:{900 + i % 100} Version:{base}{i:05d}")
            else:
                lines.append(f"{ts}\tinfo\tads\tADS: \"10.{i % 250}.{i % 200}.{i % 100}:{30000 + i}\" {node}-{minute} terminated")
            if i == 7000 and minute % 3 == 0:
                lines.append(f"{ts}\tinfo\thttp: TLS handshake error from 10.8.0.{minute % 250}:{40000 + i}: remote error: tls: bad certificate")
            if i == 12000 and minute % 3 == 1:
                lines.append(f"{ts}\terror\tklog\tk8s.io/client-go@v0.28.3/tools/cache/reflector.go:229: Failed to watch *v1.CustomResourceDefinition: failed to list *v1.CustomResourceDefinition: customresourcedefinitions.apiextensions.k8s.io is forbidden: User \"{SA}\" cannot list resource \"customresourcedefinitions\" in API group \"apiextensions.k8s.io\" at the cluster scope")
            if i == 17000 and minute % 3 == 2:
                lines.append(f"{ts}\twarn\tserverca\tAuthentication failed: Authenticator ClientCertAuthenticator at index 0 got error: no verified chain is found. Authenticator KubeJWTAuthenticator at index 1 got error: failed to validate the JWT from cluster \"Kubernetes\": the token is not authenticated. ")
        chunk = "\n".join(lines) + "\n"
        f.write(chunk)
        written += len(chunk)
        minute += 1
