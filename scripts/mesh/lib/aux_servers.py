"""Small stand-in servers for the local mesh (stdlib only).

  tls ADDR:PORT[,ADDR:PORT...] CERT KEY   -- TLS server presenting CERT (istiod's
      webhook/xDS serving cert). Answers any HTTP request with 200 "ok".
  cri FILE ARGV...                        -- run ARGV, writing its stdout/stderr to
      FILE in the CRI container-log format kwok (like the kubelet) reads.
  blackhole ADDR:PORT                     -- accepts TCP connections and never
      answers (a "timeout" target).
"""

import socket
import ssl
import sys
import threading
import time


def listen(spec):
    host, port = spec.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port)))
    s.listen(64)
    return s


def tls_conn(ctx, conn):
    try:
        conn.settimeout(10)
        with ctx.wrap_socket(conn, server_side=True) as t:
            t.recv(65536)
            t.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
    except Exception as e:  # noqa: BLE001 - log and go on, like a server would
        print(f"http: TLS handshake error from {conn.getpeername() if conn.fileno() >= 0 else '?'}: {e}",
              flush=True)
    finally:
        conn.close()


def serve_tls(specs, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    for spec in specs.split(","):
        s = listen(spec)
        threading.Thread(target=accept_loop, args=(s, lambda c: tls_conn(ctx, c)), daemon=True).start()
    while True:
        time.sleep(3600)


def accept_loop(s, handler):
    while True:
        c, _ = s.accept()
        threading.Thread(target=handler, args=(c,), daemon=True).start()


def blackhole(spec):
    s = listen(spec)
    held = []
    while True:
        c, _ = s.accept()
        held.append(c)  # keep it open, never read or write
        held = [h for h in held[-512:]]


def cri(path, argv):
    import datetime
    import subprocess
    lock = threading.Lock()
    out = open(path, "a", buffering=1)
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def pump(stream, name):
        for raw in iter(stream.readline, b""):
            ts = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            with lock:
                out.write(f"{ts} {name} F {raw.decode(errors='replace').rstrip(chr(10))}\n")
    ts = [threading.Thread(target=pump, args=(p.stdout, "stdout")),
          threading.Thread(target=pump, args=(p.stderr, "stderr"))]
    for t in ts:
        t.start()
    sys.exit(p.wait())


if __name__ == "__main__":
    if sys.argv[1] == "tls":
        serve_tls(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "cri":
        cri(sys.argv[2], sys.argv[3:])
    elif sys.argv[1] == "blackhole":
        blackhole(sys.argv[2])
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")
